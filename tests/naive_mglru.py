"""Slow, plain-Python twin of memtier.simulation.policies.mglru (the multi-generational LRU with
klruscand promotion), written from the module's docstring with dicts, sets and deques.

Generations are deques (``appendleft`` = the head, ``pop`` = the tail), the generation
counter a dict, the Bloom filters plain sets (``None`` = not allocated), pghot's records
dicts.  Records per access as the twins of naive_policies do.
"""
from collections import deque

from naive_policies import _Base, _calls_cost

MIN_NR_GENS, MAX_NR_GENS = 2, 4
MIN_LRU_BATCH, MAX_LRU_BATCH = 64, 64 * 64
PTES = 512
TOP = 7
NAMES = ["min", "low", "high", "target", "bloom", "look", "klru", "scan_ns", "promote_ns", "window_ms",
         "threshold", "batch", "walk_ns", "young_ns", "scan_pte_ns", "scan_young_ns", "heap_limit"]


class NaiveMGLRU(_Base):
    def __init__(self, p, fast_capacity, slow_capacity, rmap_ns, **common):
        super().__init__(fast_capacity, slow_capacity, **common)
        self.p = dict(zip(NAMES, p))
        self.rmap_ns = rmap_ns
        self.lists = [deque() for _ in range(MAX_NR_GENS)]
        self.seq_of = {}  # fast pages on a list -> their generation's sequence number
        self.accessed = set()
        self.max_seq, self.min_seq = MIN_NR_GENS + 1, 0
        self.filters = [None, None]
        self.freq, self.last, self.heap = {}, {}, {}  # heap: candidate -> when it became one
        self.stamp = 0
        self.next_scan, self.next_promote = self.p["scan_ns"], self.p["promote_ns"]

    def free(self):
        return self.capacity - self.fast_used

    def gen_size(self, seq):
        return sum(1 for s in self.seq_of.values() if s % MAX_NR_GENS == seq % MAX_NR_GENS)

    def join_youngest(self, page):
        self.seq_of[page] = self.max_seq
        self.lists[self.max_seq % MAX_NR_GENS].appendleft(page)

    def forget(self, page):
        self.freq.pop(page, None)
        self.heap.pop(page, None)

    def should_run_aging(self):
        if self.min_seq + MIN_NR_GENS > self.max_seq:
            return True
        if self.min_seq + MIN_NR_GENS < self.max_seq:
            return False
        total = sum(self.gen_size(s) for s in range(self.min_seq, self.max_seq + 1))
        young, old = self.gen_size(self.max_seq), self.gen_size(self.min_seq)
        return young * MIN_NR_GENS > total or old * (MIN_NR_GENS + 2) < total

    def age(self, n_pages):
        this, following = self.max_seq % 2, (self.max_seq + 1) % 2
        tables = None if not self.p["bloom"] or self.filters[this] is None else set(self.filters[this])
        self.filters[following] = set()
        walked = found = 0
        for table in range(max(1, -(-n_pages // PTES))):
            if tables is not None and table not in tables:
                continue
            start, end = table * PTES, min(table * PTES + PTES, n_pages)
            young = 0
            for page in range(start, end):
                if page not in self.node:
                    continue
                walked += 1
                if self.node[page] == 0 and page in self.accessed:
                    self.accessed.discard(page)
                    young += 1
                    if page in self.seq_of:
                        self.seq_of[page] = self.max_seq
            found += young
            if young * 8 >= end - start:
                self.filters[following].add(table)
        self.overhead(walked * self.p["walk_ns"] + found * self.p["young_ns"], 0)
        if self.max_seq - self.min_seq + 1 >= MAX_NR_GENS:  # never reached: should_run_aging says no
            raise AssertionError("aging with MAX_NR_GENS generations")
        self.max_seq += 1

    def look_around(self, page, n_pages):
        table = page // PTES
        start, end = table * PTES, min(table * PTES + PTES, n_pages)
        if end - start > MIN_LRU_BATCH:
            if page - start < 32:
                end = start + 64
            elif end - page < 32:
                start = end - 64
            else:
                start, end = page - 32, page + 32
        present = young = 0
        for q in range(start, end):
            if q not in self.node:
                continue
            present += 1
            if self.node[q] == 0 and q in self.accessed:
                self.accessed.discard(q)
                young += 1
                if q in self.seq_of:
                    self.seq_of[q] = self.max_seq
        self.overhead(present * self.p["walk_ns"] + young * self.p["young_ns"], 0)
        if young * 8 >= end - start and self.filters[self.max_seq % 2] is not None:
            self.filters[self.max_seq % 2].add(table)

    def evict(self, n_pages):
        if self.max_seq - self.min_seq + 1 <= MIN_NR_GENS:
            return 0
        oldest = self.lists[self.min_seq % MAX_NR_GENS]
        scanned, isolated = 0, []
        while oldest:
            page = oldest.pop()
            scanned += 1
            if self.seq_of[page] != self.min_seq:
                self.lists[self.seq_of[page] % MAX_NR_GENS].appendleft(page)
            else:
                del self.seq_of[page]
                isolated.append(page)
            if scanned == MAX_LRU_BATCH or len(isolated) >= MIN_LRU_BATCH:
                break
        while self.min_seq + MIN_NR_GENS <= self.max_seq and not self.lists[self.min_seq % MAX_NR_GENS]:
            self.min_seq += 1
        self.overhead(len(isolated) * self.rmap_ns, len(isolated))
        activated, demoted = [], 0
        for page in isolated:
            if page in self.accessed:
                if self.p["look"]:
                    self.look_around(page, n_pages)
                self.accessed.discard(page)
                activated.append(page)
            elif self.slow_used < self.slow_capacity:
                self.move(page, False)
                self.forget(page)
                demoted += 1
            else:
                activated.append(page)
        if demoted:
            self.migration(_calls_cost(demoted, self.batch, self.cost))
        for page in activated:
            self.join_youngest(page)
        return scanned

    def kswapd(self, n_pages):
        limit = 2 * self.fast_used + MIN_LRU_BATCH
        scanned = idle = 0
        while self.free() <= self.p["target"] and scanned < limit and idle <= MAX_NR_GENS:
            if self.should_run_aging():
                self.age(n_pages)
            n = self.evict(n_pages)
            scanned += n
            idle = idle + 1 if n == 0 else 0

    def report(self, page, now_ms):
        if page not in self.freq:
            self.freq[page], self.last[page] = 1, now_ms
            return
        f = 1 if now_ms - self.last[page] > self.p["window_ms"] else min(self.freq[page] + 1, TOP)
        self.freq[page], self.last[page] = f, now_ms
        if page in self.heap:
            if f < self.p["threshold"]:
                del self.heap[page]
        elif f >= self.p["threshold"] and len(self.heap) < self.p["heap_limit"]:
            self.heap[page] = self.stamp
            self.stamp += 1

    def klruscand(self, n_pages):
        now_ms = self.now * 1e-6
        young = 0
        for page in range(n_pages):
            if self.node.get(page) == 1 and page in self.accessed:
                self.accessed.discard(page)
                young += 1
                self.report(page, now_ms)
        self.overhead(len(self.node) * self.p["scan_pte_ns"] + young * self.p["scan_young_ns"], young)

    def kpromoted(self, n_pages):
        chosen = sorted(self.heap, key=lambda page: (-self.freq[page], self.heap[page]))[:int(self.p["batch"])]
        promoted, woken = 0, False
        for page in chosen:
            del self.heap[page]
            del self.freq[page]
            if self.node[page] == 0:
                continue
            if self.free() > self.p["high"] + 1:
                self.move(page, True)
                self.accessed.discard(page)
                self.join_youngest(page)
                promoted += 1
            elif not woken:
                woken = True
                self.kswapd(n_pages)
        if promoted:
            self.migration(_calls_cost(promoted, self.batch, self.cost))

    def run(self, trace, n_pages):
        promote = bool(self.p["klru"])
        for page in trace:
            page = int(page)
            self.row = self.record.new()
            if page not in self.node:
                if self.free() <= self.p["low"]:
                    self.kswapd(n_pages)
                fast = self.free() > self.p["min"] or self.slow_used >= self.slow_capacity
                self.node[page] = 0 if fast else 1
                if fast:
                    self.join_youngest(page)
            self.serve(page)
            self.accessed.add(page)
            if promote and self.now >= self.next_scan:
                self.klruscand(n_pages)
                self.next_scan = self.now + self.p["scan_ns"]
            if promote and self.now >= self.next_promote:
                self.kpromoted(n_pages)
                self.next_promote = self.now + self.p["promote_ns"]
        return self.record.rows
