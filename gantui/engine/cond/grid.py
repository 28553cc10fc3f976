"""The fixed sample grid of a conditional run: one class (or code value) per row.

- Conditional GAN: row r asks G for class r; column j uses the j-th vector of the fixed noise batch in
  every row, so a column keeps its "style" and only the class changes down it. A class that is missing
  or confused is a visibly wrong row.
- InfoGAN (the paper's figures): row r sets the categorical code to r; the columns sweep one continuous
  code from −2 to 2 (beyond the U(−1, 1) it was trained on, as the paper does) with the other codes at 0
  and one noise vector for the whole page. There is one page per continuous code; the dashboard picks
  which page it shows. Without continuous codes the columns are noise vectors, as for a cGAN.

A generator with BatchNorm normalises by the batch; a page of one repeated noise vector would be
normalised by the codes alone. Each page is therefore generated together with a fixed *context*
batch of ordinary latents (the fixed noise with conditions drawn once), whose images are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from gantui.engine.cond.condition import ClassCondition, InfoCondition
from gantui.engine.cond.nets import one_hot

SWEEP_LIMIT = 2.0  # InfoGAN's columns: a continuous code from −2 to 2
SWEEP_COLUMNS = 9  # −2, −1.5, …, 2: 0 in the middle
MAX_COLUMNS = 10
GRID_IMAGES = 100  # about this many per page: fewer columns when there are many classes
CONTEXT_SEED_OFFSET = 11  # the context batch's conditions: the run's seed plus this


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@dataclass(frozen=True)
class Page:
    """One grid of rows × columns latents, row-major."""

    z: Tensor  # (rows·columns, z_dim)
    c: Tensor  # labels (rows·columns,) or codes (rows·columns, K + n)


class ConditionGrid:
    """The pages of a conditional run's grid, their labels, names and the real images beside them."""

    def __init__(self, condition: ClassCondition | InfoCondition, *, seed: int, device: torch.device) -> None:
        self.condition = condition
        self.device = device
        if isinstance(condition, ClassCondition):
            self.kind = "class"
            self.rows = condition.n
            self.names = condition.classes
            self.sweeps: tuple[str, ...] = ()
            self.columns = max(2, min(MAX_COLUMNS, GRID_IMAGES // max(self.rows, 1)))
        else:
            self.kind = "code"
            self.rows = max(condition.categories, 1)
            self.names = condition.classes or ("",)
            self.sweeps = tuple(f"c{j + 1}" for j in range(condition.continuous))
            self.columns = SWEEP_COLUMNS if self.sweeps else MAX_COLUMNS
        self._context_seed = seed + CONTEXT_SEED_OFFSET

    @property
    def labels(self) -> np.ndarray:
        """(pages · rows · columns,) int64: each image's row label, page after page."""
        one = np.repeat(np.arange(self.rows, dtype=np.int64), self.columns)
        return np.tile(one, max(len(self.sweeps), 1))

    def pages(self, fixed_noise: Tensor) -> list[Page]:
        """The latents of every page, from the run's fixed noise batch (read afresh: a resume replaces it)."""
        rows, cols, dev = self.rows, self.columns, self.device
        row_of = torch.arange(rows, device=dev).repeat_interleave(cols)  # (rows·cols,)
        col_of = torch.arange(cols, device=dev).repeat(rows)
        cond = self.condition
        if isinstance(cond, ClassCondition):
            return [Page(fixed_noise[col_of], row_of)]
        none = fixed_noise.new_zeros(len(row_of), 0)
        categorical = one_hot(row_of, cond.categories) if cond.categories else none
        if not self.sweeps:
            return [Page(fixed_noise[col_of], categorical)]
        values = torch.linspace(-SWEEP_LIMIT, SWEEP_LIMIT, cols, device=dev)[col_of]
        z = fixed_noise[:1].expand(len(row_of), -1)
        pages = []
        for j in range(cond.continuous):
            cont = fixed_noise.new_zeros(len(row_of), cond.continuous)
            cont[:, j] = values
            pages.append(Page(z, torch.cat([categorical, cont], 1)))
        return pages

    def context(self, fixed_noise: Tensor) -> Page:
        """The fixed batch of ordinary latents that BatchNorm normalises each page with."""
        gen = torch.Generator(device=self.device).manual_seed(self._context_seed)
        return Page(fixed_noise, self.condition.condition(len(fixed_noise), gen))

    @property
    def sweep_titles(self) -> tuple[str, ...]:
        """How the dashboard names each page: "c1 from −2 to 2"."""
        return tuple(f"{name} from −{SWEEP_LIMIT:g} to {SWEEP_LIMIT:g}" for name in self.sweeps)


def generate_page(G: nn.Module, condition, page: Page, context: Page | None) -> Tensor:
    """G's images of ``page`` (with ``context`` in the same batch when G has BatchNorm)."""
    if context is None:
        return condition.fake(G, page.z, page.c)
    z = torch.cat([page.z, context.z])
    c = torch.cat([page.c, context.c])
    return condition.fake(G, z, c)[:len(page.z)]
