"""Slow, plain-Python twin of memtier.simulation.policies.damon_tiering (DAMON regions and DAMOS
migrate_hot / migrate_cold with quotas, as samples/damon/mtier.c sets them up), written from
the module's docstring: regions are Python lists, frames dicts and lists.  The random
generator is the module's (a xorshift, so that both draw the same sampled frames and split
points); everything else is written again.  Records per access as naive_policies' twins."""
from naive_policies import _Base, _calls_cost

MASK63 = (1 << 63) - 1
NAMES = ["sample_us", "aggr_us", "update_us", "min_regions", "max_regions", "goal_bp", "goal_aggrs",
         "min_sample_us", "max_sample_us", "apply_us", "reset_ms", "quota_bytes", "w_sz", "w_nr", "w_age",
         "promote_bp", "demote_bp", "young", "low", "kdamond_ns", "seed", "min"]


class Rng:
    def __init__(self, seed):
        self.x = (seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) % (1 << 63) or 1

    def below(self, n):
        x = self.x
        x ^= (x << 13) & MASK63
        x ^= x >> 7
        x ^= (x << 17) & MASK63
        x &= MASK63
        self.x = x or 1
        return (self.x >> 11) % n


def feed_loop(last, score):
    goal = 10000
    if score == goal:
        return last
    if score >= 2 * goal:
        return 10000
    diff = abs(score - goal)
    compensation = last * diff // goal
    return max(last - compensation, 10000) if score > goal else last + compensation


class Region:
    def __init__(self, start, end):
        self.start, self.end = start, end
        self.nr = self.bp = self.last = self.age = self.sample = 0

    def copy(self):
        r = Region(self.start, self.end)
        r.nr, r.bp, r.last, r.age, r.sample = self.nr, self.bp, self.last, self.age, self.sample
        return r

    @property
    def size(self):
        return self.end - self.start


class Context:
    def __init__(self, node, frames, p):
        self.node = node
        self.regions = [Region(0, frames)]
        self.sample, self.aggr = p["sample_us"], p["aggr_us"]
        self.aggr_samples = self.aggr // self.sample
        self.passed = 0
        self.next_aggr = self.aggr // self.sample
        self.next_update = p["update_us"] // self.sample
        self.next_tune = self.next_aggr * p["goal_aggrs"]
        self.next_apply = p["apply_us"] // self.sample
        self.sz_limit = max(1, frames // p["min_regions"])
        self.esz = self.esz_bp = self.charged = 0
        self.charged_from = 0.0
        self.charge_edge = None
        self.min_score = 0
        self.next_tick = 0.0


class NaiveDamon(_Base):
    def __init__(self, p, fast_capacity, slow_capacity, n_pages, page_bytes, **common):
        super().__init__(fast_capacity, slow_capacity, **common)
        self.p = {name: (v if name in ("reset_ms", "young", "kdamond_ns") else int(v)) for name, v in zip(NAMES, p)}
        self.page_bytes = page_bytes
        frames = [max(1, min(fast_capacity, n_pages)), max(1, min(slow_capacity, n_pages))]
        self.free = [list(range(f - 1, -1, -1)) for f in frames]  # the top of each stack is the list's end
        self.at = [dict(), dict()]  # node -> frame -> page
        self.frame = {}
        self.accessed = set()
        self.rng = Rng(self.p["seed"])
        self.ctxs = [Context(1, frames[1], self.p), Context(0, frames[0], self.p)]  # promote, demote
        self.last_nr_regions = 0
        self.started = False

    # frames
    def take(self, page, node):
        frame = self.free[node].pop()
        self.frame[page] = frame
        self.at[node][frame] = page

    def release(self, page, node):
        frame = self.frame.pop(page)
        del self.at[node][frame]
        self.free[node].append(frame)

    def charge(self, n):
        self.overhead(n * self.p["kdamond_ns"], n)

    # monitoring
    def prepare(self, c):
        for r in c.regions:
            r.sample = r.start + self.rng.below(r.size)
            page = self.at[c.node].get(r.sample)
            if page is not None:
                self.accessed.discard(page)

    def check(self, c):
        window = max(1, c.aggr // c.sample)
        highest = 0
        for r in c.regions:
            page = self.at[c.node].get(r.sample)
            accessed = page is not None and page in self.accessed
            r.bp = (r.bp - r.last * 10000 // window + (10000 if accessed else 0)) % (1 << 32)
            r.nr += accessed
            highest = max(highest, r.nr)
        return highest

    def merge(self, c, threshold):
        top = c.aggr // c.sample
        while True:
            kept = []
            for r in c.regions:
                r.age = 0 if abs(r.nr - r.last) > threshold else r.age + 1
                if kept:
                    p = kept[-1]
                    if p.end == r.start and abs(p.nr - r.nr) <= threshold and p.size + r.size <= c.sz_limit:
                        total = p.size + r.size
                        p.nr = (p.nr * p.size + r.nr * r.size) // total
                        p.bp = p.nr * 10000
                        p.age = (p.age * p.size + r.age * r.size) // total
                        p.end = r.end
                        continue
                kept.append(r)
            c.regions = kept
            threshold = max(1, threshold * 2)
            if not (len(c.regions) > self.p["max_regions"] and threshold // 2 < top):
                break

    def split(self, c):
        n = len(c.regions)
        if n > self.p["max_regions"] // 2:
            return
        subs = 3 if self.last_nr_regions == n and n < self.p["max_regions"] // 3 else 2
        out = []
        for r in c.regions:
            pieces = [r]  # r, then the parts split off its right end, nearest first
            size = r.size
            for _ in range(subs - 1):
                if size <= 2:
                    break
                sub = (1 + self.rng.below(9)) * size // 10
                if sub == 0 or sub >= size:
                    continue
                right = r.copy()
                right.start = r.start + sub
                r.end = right.start
                pieces.insert(1, right)
                size = sub
            out.extend(pieces)
        c.regions = out
        self.last_nr_regions = n

    # schemes
    def hot(self, c, r):
        freq = r.nr * 100 // max(1, c.aggr // c.sample)
        seconds = r.age * c.aggr // 1000000
        log = 0
        while log < 32 and seconds:
            log, seconds = log + 1, seconds >> 1
        log = (-log if freq == 0 else log) + 32
        age_sub = log * 100 // 32 // 2
        w_nr, w_age = self.p["w_nr"], self.p["w_age"]
        h = w_nr * freq + w_age * age_sub
        if w_nr + w_age:
            h //= w_nr + w_age
        return h * 99 // 100

    def score(self, c, r):
        return self.hot(c, r) if c.node == 1 else 99 - self.hot(c, r)

    def valid(self, c, r):
        nr = r.bp // 10000
        return nr >= 1 if c.node == 1 else nr == 0

    def migrate(self, c, r):
        target = 1 - c.node
        chosen, read = [], 0
        for frame in range(r.start, r.end):
            page = self.at[c.node].get(frame)
            if page is None:
                continue
            if self.p["young"]:
                read += 1
                young = page in self.accessed
                self.accessed.discard(page)
                if young != (c.node == 1):
                    continue
            chosen.append(page)
        if read:
            self.charge(read)
        moved = 0
        for page in chosen:
            if target == 0:
                room = self.capacity - self.fast_used > self.p["min"]
            else:
                room = self.slow_used < self.slow_capacity
            if not room:
                continue
            self.release(page, c.node)
            self.move(page, target == 0)
            self.accessed.discard(page)
            self.take(page, target)
            moved += 1
        if moved:
            self.migration(_calls_cost(moved, self.batch, self.cost))

    def adjust(self, c, now_ms, goal, quota):
        pb = self.page_bytes
        if now_ms >= c.charged_from + self.p["reset_ms"]:
            c.charged_from, c.charged = now_ms, 0
            if not goal:
                c.esz = quota
            else:
                used = self.fast_used
                current = (used if c.node == 1 else self.capacity - used) * 10000 // self.capacity
                c.esz_bp = feed_loop(max(c.esz_bp, 10000), current * 10000 // goal)
                c.esz = c.esz_bp // 10000
                if quota and quota < c.esz:
                    c.esz = quota
        histogram = [0] * 100
        scores = [self.score(c, r) for r in c.regions if self.valid(c, r)]
        for r in c.regions:
            if self.valid(c, r):
                histogram[self.score(c, r)] += r.size * pb
        score = max(scores, default=0)
        cumulated = 0
        while True:
            cumulated += histogram[score]
            if cumulated >= c.esz or score == 0:
                break
            score -= 1
        c.min_score = score

    def apply(self, c, now_ms):
        if c.passed < c.next_apply:
            return
        pb = self.page_bytes
        goal = self.p["promote_bp"] if c.node == 1 else self.p["demote_bp"]
        quota = self.p["quota_bytes"]
        if goal or quota:
            self.adjust(c, now_ms, goal, quota)
        todo = list(c.regions)  # the walk's order, fixed before it starts (regions split off are not visited)
        for r in todo:
            if c.esz and c.charged >= c.esz:
                continue
            if c.charge_edge is not None:
                edge = c.charge_edge
                if r is c.regions[-1]:
                    c.charge_edge = None
                    continue
                if r.end <= edge:
                    continue
                if r.start <= edge:
                    skip = edge - r.start
                    if skip == 0:
                        if r.size <= 1:
                            continue
                        skip = 1
                    right = r.copy()
                    right.start = r.start + skip
                    r.end = right.start
                    c.regions.insert(c.regions.index(r) + 1, right)
                    r = right
                c.charge_edge = None
            if not self.valid(c, r) or (c.esz and self.score(c, r) < c.min_score):
                continue
            size = r.size * pb
            if c.esz and c.charged + size > c.esz:
                size = (c.esz - c.charged) // pb * pb
                if size == 0:
                    continue
                right = r.copy()
                right.start = r.start + size // pb
                r.end = right.start
                c.regions.insert(c.regions.index(r) + 1, right)
            self.migrate(c, r)
            c.charged += size
            if c.esz and c.charged >= c.esz:
                c.charge_edge = r.end
            r.age = 0
        c.next_apply = c.passed + self.p["apply_us"] // c.sample

    def tune(self, c):
        pb = self.page_bytes
        most = sum(r.size * pb * c.aggr_samples for r in c.regions)
        seen = sum(r.size * pb * r.nr for r in c.regions)
        target = most * self.p["goal_bp"] // 10000 or 1
        adaptation = feed_loop(100000000, seen * 10000 // target) // 10000
        if adaptation <= 10000:
            adaptation = 5000 + adaptation // 2
        if adaptation == 10000:
            return
        sample = max(self.p["min_sample_us"], min(self.p["max_sample_us"], c.sample * adaptation // 10000))
        aggr = sample * c.aggr_samples
        for r in c.regions:
            r.bp = r.nr * 10000
            r.age = r.age * c.aggr // aggr
        c.next_update = c.passed + self.p["update_us"] // sample
        c.next_apply = c.passed + self.p["apply_us"] // sample
        c.sample, c.aggr = sample, aggr

    def tick(self, c):
        c.passed += 1
        next_aggr, next_update = c.next_aggr, c.next_update
        checks = len(c.regions)
        highest = self.check(c)
        if c.passed >= next_aggr:
            self.merge(c, highest // 10)
        self.apply(c, self.now * 1e-6)
        if c.passed >= next_aggr:
            if self.p["goal_aggrs"] and c.passed >= c.next_tune:
                c.next_tune += c.aggr_samples * self.p["goal_aggrs"]
                self.tune(c)
            c.next_aggr = next_aggr + c.aggr // c.sample
            for r in c.regions:
                r.last, r.nr = r.nr, 0
            self.split(c)
        if c.passed >= next_update:
            c.next_update = next_update + self.p["update_us"] // c.sample
            c.sz_limit = max(1, sum(r.size for r in c.regions) // self.p["min_regions"])
        self.prepare(c)
        self.charge(checks + len(c.regions))
        c.next_tick = self.now + c.sample * 1e3

    def run(self, trace):
        for page in trace:
            page = int(page)
            self.row = self.record.new()
            if not self.started:
                self.started = True
                for c in reversed(self.ctxs):  # the demoting kdamond first
                    self.prepare(c)
                    c.next_tick = self.now + c.sample * 1e3
            if page not in self.node:
                fast = self.capacity - self.fast_used > self.p["low"] or self.slow_used >= self.slow_capacity
                self.node[page] = 0 if fast else 1
                self.take(page, self.node[page])
            self.serve(page)
            self.accessed.add(page)
            for c in reversed(self.ctxs):
                if self.now >= c.next_tick:
                    self.tick(c)
        return self.record.rows
