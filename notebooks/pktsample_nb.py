"""pktsample's estimators for notebooks: the formulas of
schemas/report-v1.md ("Estimates") in Python, on a samples DataFrame and its
metadata, so that a notebook's numbers equal `pktsample analyze`'s.

Not a published package: a helper next to the example notebook, tested by
test_pktsample_nb.py. It covers what the notebook shows: strata and their
designs, the IPv6 share (Wilson on the effective sample size) and bytes per
IP protocol (Fay & Feuer's gamma interval with the largest plausible
frame), for pktsample files (exact pools) and files without metadata
(Horvitz-Thompson by each row's rate).
"""
import json
import math
from dataclasses import dataclass

import pyarrow.parquet as pq
from scipy import stats

ALPHA = 0.05
Z95 = 1.959963984540054
TAIL_MISS = 0.05
FEW_SAMPLES = 30
ETHERNET_FRAME = 1518
MAX_FRAME = 65535 + 22
SIZE_CLASSES = [(0, 63), (64, 64), (65, 127), (128, 255), (256, 511), (512, 1023), (1024, 1518), (1519, 2**32 - 1)]


def metadata(path):
    """The capture metadata of a pktsample Parquet file (None without)."""
    kv = pq.read_metadata(path).metadata or {}
    raw = kv.get(b"pktsample")
    return json.loads(raw) if raw else None


@dataclass
class Cell:
    n: int = 0
    bytes: int = 0
    bytes2: int = 0
    max: int = 0


@dataclass
class Design:
    n: int
    pool: int | None
    rate: int


@dataclass
class Est:
    value: float = 0.0
    var: float = 0.0
    n: int = 0
    observed: float = 0.0
    strata: int = 0
    single: Design | None = None
    wmax: float = 0.0

    def add(self, o):
        self.value += o.value
        self.var += o.var
        self.n += o.n
        self.observed += o.observed
        self.wmax = max(self.wmax, o.wmax)
        self.single = o.single if self.strata == 0 else (self.single if o.strata == 0 else None)
        self.strata += o.strata


def weight(d):
    if d.pool is not None and d.pool == d.n:
        return 0.0
    if d.pool is not None and d.pool > d.n > 0:
        return d.pool / d.n
    return float(d.rate)


def stratum_total(d, n, s, s2, largest):
    wmax = weight(d) * largest
    if d.n == 0 or n == 0:
        return Est(strata=1, single=d, wmax=wmax)
    if d.pool is not None and d.pool >= d.n:
        m, nh = float(d.pool), float(d.n)
        value = m / nh * s
        if d.n > 1:
            sd2 = max((s2 - s * s / nh) / (nh - 1.0), 0.0)
            var = m * m * (1.0 - nh / m) * sd2 / nh
        else:
            var = m * (m - 1.0) * s2
    else:
        w = float(d.rate)
        value, var = w * s, w * (w - 1.0) * s2
    return Est(value, var, n, s, 1, d, wmax)


def tidy(x):
    r = round(x)
    return float(r) if abs(x - r) <= 1e-9 * max(abs(x), 1.0) else x


def gamma_quantile(shape, scale, p):
    if not (shape > 0 and scale > 0):
        return 0.0
    if shape > 1000:
        z = stats.norm.ppf(p)
        c = 1.0 / (9.0 * shape)
        return shape * scale * (1.0 - c + z * math.sqrt(c)) ** 3
    return stats.gamma.ppf(p, shape) * scale


def gamma_interval(e):
    t, v, w = max(e.value, 0.0), max(e.var, 0.0), max(e.wmax, 0.0)
    low = gamma_quantile(t * t / v, v / t, ALPHA / 2) if t > 0 and v > 0 else t
    tw, vw = t + w, v + w * w
    high = gamma_quantile(tw * tw / vw, vw / tw, 1 - ALPHA / 2) if tw > 0 and vw > 0 else t
    return {"estimate": e.value, "low": max(min(low, t), e.observed), "high": max(high, t)}


def byte_interval(e):
    if e.var <= 0 and e.wmax <= 0:
        i = {"estimate": e.value, "low": e.value, "high": e.value}
    else:
        i = gamma_interval(e)
    return {k: tidy(v) for k, v in i.items()}


def smaller_than(mx, n, sizes):
    total = sum(c.n for c in sizes)
    if total == 0:
        return False
    above = sum(c.n for (lo, _), c in zip(SIZE_CLASSES, sizes) if lo > mx)
    return (1.0 - above / total) ** n < TAIL_MISS


ROOM = 10.0


def bounded_by_own(mx, frame, sampled):
    """Whether a group's own largest frame bounds its unseen packets
    (analyze's `stats::bounded_by_own`): the rule of three leaves room for
    3/n larger packets, at most 30 % of the sampled bytes."""
    return frame <= mx or ROOM * (frame - mx) <= sampled


def bytes_total(d, c):
    """A group's bytes in one stratum (analyze's `stats::bytes`): a whole
    stratum's few equal samples keep Bernoulli's variance."""
    e = stratum_total(d, c.n, float(c.bytes), float(c.bytes2), 0.0)
    same = c.bytes2 * c.n == c.bytes * c.bytes
    if d.pool is not None and d.pool > d.n and c.n == d.n and 1 < c.n < FEW_SAMPLES and same:
        w = weight(d)
        e.var = w * (w - 1.0) * c.bytes2
    return e


def stratum_frame(sizes, pooled):
    n = sum(c.n for c in sizes)
    own = max((c.max for c in sizes), default=0)
    frame = own if n > 0 and smaller_than(own, n, pooled) else max(max((c.max for c in pooled), default=0), own)
    if frame == 0:
        return MAX_FRAME
    return max(frame, ETHERNET_FRAME) if n < FEW_SAMPLES else frame


def size_class(length):
    for i, (lo, hi) in enumerate(SIZE_CLASSES):
        if lo <= length <= hi:
            return i
    return len(SIZE_CLASSES) - 1


def cell_of(rows):
    """A Cell from a DataFrame's pkt_len column (pandas)."""
    lens = rows["pkt_len"].astype("int64")
    return Cell(len(lens), int(lens.sum()), int((lens * lens).sum()), int(lens.max()) if len(lens) else 0)


class Strata:
    """The strata of a samples DataFrame (pandas) and their designs: one
    per interface, direction and rate; exact pools from the metadata when it
    has them (`meta`, from `metadata()`), else Horvitz-Thompson."""

    KEY = ["ifindex", "direction", "sampling_rate"]

    def __init__(self, df, meta=None):
        self.df = df
        self.groups = {k: g for k, g in df.groupby(self.KEY, observed=True)}
        self.designs = {}
        for k, g in self.groups.items():
            ifindex, direction, rate = int(k[0]), str(k[1]), int(k[2])
            pool = None
            for i in (meta or {}).get("interfaces", []):
                if i["ifindex"] == ifindex and i["sampling_rate"] == rate:
                    seen = i.get("directions", {}).get(direction, {}).get("packets_seen", 0)
                    pool = seen if seen > 0 and seen >= len(g) else None
            self.designs[k] = Design(len(g), pool, rate)
        # The report's samples by size class, pooled over strata.
        self.sizes = {k: self._sizes(g) for k, g in self.groups.items()}
        self.pooled = [Cell() for _ in SIZE_CLASSES]
        for s in self.sizes.values():
            for p, c in zip(self.pooled, s):
                _merge(p, c)
        self.frames = {k: stratum_frame(s, self.pooled) for k, s in self.sizes.items()}

    @staticmethod
    def _sizes(g):
        cls = g["pkt_len"].map(size_class)
        out = []
        for i in range(len(SIZE_CLASSES)):
            out.append(cell_of(g[cls == i]))
        return out

    def bytes_of(self, select):
        """Bytes of the rows `select(group DataFrame)` picks, with the
        report's interval (a group over every stratum)."""
        total, n, mx, frame, w_frame, w_sample = Est(), 0, 0, 0, 0.0, 0.0
        for k, g in self.groups.items():
            c = cell_of(select(g))
            if c.n == 0:
                continue
            d = self.designs[k]
            w = weight(d)
            total.add(bytes_total(d, c))
            n += c.n
            mx = max(mx, c.max)
            frame = max(frame, self.frames[k], c.max)
            w_frame = max(w_frame, w * max(self.frames[k], c.max))
            w_sample = max(w_sample, w)
        total.wmax = w_sample * mx if bounded_by_own(mx, frame, total.observed) else w_frame
        return n, byte_interval(total)

    def share(self, of, among, by_bytes):
        """The share of rows `of` among rows `among` (subset), with Wilson's
        interval on the effective sample size."""
        parts = []
        for k, g in self.groups.items():
            x, y = cell_of(among(g)), cell_of(of(among(g)))
            if by_bytes:
                parts.append((self.designs[k], (x.bytes, x.bytes2, y.bytes, y.bytes2, x.n)))
            else:
                parts.append((self.designs[k], (x.n, x.n, y.n, y.n, x.n)))
        return share(parts)


def _merge(a, b):
    a.n += b.n
    a.bytes += b.bytes
    a.bytes2 += b.bytes2
    a.max = max(a.max, b.max)


def wilson(p, n):
    if n <= 0:
        return 0.0, 1.0
    z2 = Z95 * Z95
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(centre - half, 0.0), min(centre + half, 1.0)


def share(parts):
    xt = sum(stratum_total(d, nx, x, x2, 0).value for d, (x, x2, y, y2, nx) in parts)
    yt = sum(stratum_total(d, nx, y, y2, 0).value for d, (x, x2, y, y2, nx) in parts)
    n = sum(nx for _, (*_, nx) in parts)
    if xt <= 0:
        return {"estimate": 0.0, "low": 0.0, "high": 1.0}
    r = yt / xt
    var = 0.0
    for d, (x, x2, y, y2, nx) in parts:
        sz, sz2 = y - r * x, y2 - 2 * r * y2 + r * r * x2
        var += stratum_total(d, nx, sz, max(sz2, 0.0), 0).var
    var_r = var / (xt * xt)
    n_eff = min(r * (1 - r) / var_r, n * 1e6) if var_r > 0 and 0 < r < 1 else float(n)
    if var <= 0 and all(d.pool is not None and d.pool == d.n for d, _ in parts):
        return {"estimate": r, "low": r, "high": r}
    lo, hi = wilson(r, n_eff)
    return {"estimate": r, "low": min(lo, r), "high": max(hi, r)}


def close(a, b, rel=1e-6):
    """Whether two intervals agree (to the quantile solvers' precision)."""
    return all(math.isclose(a[k], b[k], rel_tol=rel, abs_tol=1e-9) for k in ("estimate", "low", "high"))
