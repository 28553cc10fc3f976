"""The dashboard's widgets, one per file. Each is told what to show ("attributes down")."""
