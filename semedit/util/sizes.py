"""Image sizes a network accepts: each model declares its ``size_rule`` (``BaseModel.size_rule``),
and the data, the checks and test.py's resizing ask it instead of assuming one network."""
from typing import NamedTuple

from semedit.util.errors import UserError


class SizeRule(NamedTuple):
    """Every side a multiple of ``multiple`` and at least ``minimum``; ``why``: the reason, for messages."""
    multiple: int = 1
    minimum: int = 1
    why: str = ''

    def accepts(self, h, w):
        return h % self.multiple == 0 and w % self.multiple == 0 and min(h, w) >= self.minimum

    def describe(self):
        return f'both sides must be multiples of {self.multiple} and at least {self.minimum}'

    def problem(self, h, w):
        """Why (h, w) cannot be run natively, or None."""
        if self.accepts(h, w):
            return None
        return f'{w}×{h} (W×H) cannot run natively: {self.describe()}'

    def working_size(self, h, w, load_size):
        """Short side -> ``load_size``, long side scaled with the aspect ratio and rounded to the
        nearest multiple. A valid size that already has that short side is kept (with a rule of
        multiples of 128, 256×256 and 512×256 inputs are not resized at all)."""
        if not self.accepts(load_size, load_size):
            raise UserError(f'--load_size {load_size} must be a multiple of {self.multiple} and at least {self.minimum}')
        short, long_ = (h, w) if h <= w else (w, h)
        new_long = max(load_size, int(round(long_ * load_size / short / self.multiple)) * self.multiple)
        return (load_size, new_long) if h <= w else (new_long, load_size)


ANY_SIZE = SizeRule()
