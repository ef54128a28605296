"""A slow, obviously correct pure-Python twin of memtier's simulator kernels.

It follows the rules stated in memtier.simulation.simulator's and memtier.simulation.policies.active_shrink' docstrings (patches
22-25 of the RFC for ``active-shrink``) with plain Python containers: each list is a deque
(``append`` = head, ``popleft`` = tail), the LRU an OrderedDict, the top pages a sort, and a
period ends after the first access that brings its units to the period's length.  The
tests require the numba kernels to agree with it exactly.
"""
from collections import OrderedDict, deque

SWAP_CLUSTER_MAX = 32


def _calls_cost(n, call, cost):
    return (n // call) * cost[call] + cost[n % call]


def _int_sqrt(x):
    root = 0
    while (root + 1) * (root + 1) <= x:
        root += 1
    return root


def top_pages(counts, first_touch_order, k):
    """The ``k`` most accessed pages; ties broken by first touch in the period."""
    rank = {page: i for i, page in enumerate(first_touch_order)}
    ranked = sorted(first_touch_order, key=lambda page: (-counts[page], rank[page]))
    return set(ranked[:k])


class NaiveSimulator:
    def __init__(self, policy, fast_capacity, slow_capacity, *, period_units, unit_fast, unit_slow,
                 page_bytes, batch_pages, call_pages, max_pages, exchange, huge, fast_ns, slow_ns, share,
                 migrate_cost, exchange_cost, rmap_ns, worth_min, pingpong_periods=2, variants=()):
        self.policy = policy
        self.capacity = {0: fast_capacity, 1: slow_capacity}
        self.period_units, self.unit_fast, self.unit_slow = period_units, unit_fast, unit_slow
        self.page_bytes = page_bytes
        self.batch, self.call = batch_pages, call_pages
        self.max_pages = max_pages
        self.exchange, self.huge = exchange, huge
        self.fast_ns, self.slow_ns, self.share = fast_ns, slow_ns, share
        self.migrate_cost, self.exchange_cost = migrate_cost, exchange_cost
        self.rmap_ns, self.worth_min, self.pingpong_periods = rmap_ns, worth_min, pingpong_periods
        self.ratio_gate = "inactive-ratio-gate" in variants
        self.halves_first = "halves-first" in variants
        self.cold_check = "referenced-cold" in variants
        self.lists = {(node, active): deque() for node in (0, 1) for active in (False, True)}
        self.node = {}          # page -> 0 fast / 1 slow
        self.active = {}        # page -> PG_active
        self.accessed = set()   # pages whose accessed bit is set
        self.static_fast = set()
        self.lru = OrderedDict()
        self.fast_set = set()   # the oracles' fast pages
        self.prev_top = set()
        self.judged_promoted, self.judged_demoted, self.next_demoted = set(), set(), set()
        self.last_demoted = {}
        self.stay = {}          # promoted page still fast -> its accesses since
        self.period_index = 0
        self.rows = []

    # --- lists ------------------------------------------------------------------------------
    def used(self, node):
        if self.policy in ("lru", "oracle", "reactive-oracle"):
            return sum(1 for n in self.node.values() if n == node)
        return len(self.lists[(node, False)]) + len(self.lists[(node, True)])

    def inactive_is_low(self, node, isolated=0):
        inactive, active = len(self.lists[(node, False)]) + isolated, len(self.lists[(node, True)])
        gb = (inactive + active) * self.page_bytes >> 30
        ratio = _int_sqrt(10 * gb) if gb else 1
        return inactive * ratio < active

    def shrink_inactive(self, node, n, isolate):
        cold = []
        for _ in range(n):
            page = self.lists[(node, False)].popleft()
            if page in self.accessed:
                self.accessed.discard(page)
                self.active[page] = True
                self.lists[(node, True)].append(page)
            elif isolate:
                cold.append(page)
            else:
                self.lists[(node, False)].append(page)
        return cold

    def shrink_active(self, node, n):
        for _ in range(n):
            page = self.lists[(node, True)].popleft()
            self.accessed.discard(page)
            self.active[page] = False
            self.lists[(node, False)].append(page)

    def shrink_lists_node(self, node, isolate):
        """Patch 22: half the inactive list, then half the active list read after it."""
        n_inactive = len(self.lists[(node, False)]) // 2
        n_active = len(self.lists[(node, True)]) // 2
        cold = self.shrink_inactive(node, n_inactive, isolate)
        if not self.halves_first:
            n_active = len(self.lists[(node, True)]) // 2
        if self.ratio_gate and not self.inactive_is_low(node, len(cold)):
            n_active = 0
        self.shrink_active(node, n_active)
        return n_inactive + n_active, cold

    def mark_move(self, page, to, row, judged_now=True):
        self.accessed.discard(page)
        self.node[page] = to
        if to == 0:
            self.judged_promoted.add(page)
            if self.period_index - self.last_demoted.get(page, -(1 << 30)) <= self.pingpong_periods:
                row["pingpong"] += 1
            self.stay[page] = 0
        else:
            (self.judged_demoted if judged_now else self.next_demoted).add(page)
            self.last_demoted[page] = self.period_index
            if page in self.stay:
                row["stays_ended"] += 1
                row["stays_repaid"] += self.stay.pop(page) > self.worth_min

    def move(self, page, to, row, judged_now=True):
        self.mark_move(page, to, row, judged_now)
        self.lists[(to, self.active[page])].append(page)

    def putback(self, page):
        self.lists[(self.node[page], self.active[page])].append(page)

    # --- policies ---------------------------------------------------------------------------
    def reclaim(self, row):
        demoted = scanned = 0
        limit = 2 * self.used(0) + SWAP_CLUSTER_MAX
        while demoted < SWAP_CLUSTER_MAX and scanned < limit:
            while self.inactive_is_low(0) and self.lists[(0, True)]:
                n = min(SWAP_CLUSTER_MAX, len(self.lists[(0, True)]))
                self.shrink_active(0, n)
                scanned += n
            n = min(SWAP_CLUSTER_MAX, len(self.lists[(0, False)]))
            if n == 0:
                break
            for _ in range(n):
                page = self.lists[(0, False)].popleft()
                if page in self.accessed:
                    self.accessed.discard(page)
                    self.active[page] = True
                    self.lists[(0, True)].append(page)
                elif demoted < SWAP_CLUSTER_MAX and self.used(1) < self.capacity[1]:
                    self.move(page, 1, row, judged_now=False)
                    demoted += 1
                else:
                    self.lists[(0, False)].append(page)
            scanned += n
        row["demoted"] += demoted
        row["migration_us"] += _calls_cost(demoted, self.batch, self.migrate_cost)
        row["scanned"] += scanned
        row["scan_us"] += scanned * self.rmap_ns * 1e-3

    def affordable(self, limit, budget):
        best = 0
        for n in range(limit + 1):
            if 2.0 * _calls_cost(n, self.call, self.migrate_cost) <= budget:
                best = n
        return best

    def mm_manage(self, row, cold):
        """Patch 23's do_mm_manage() with patches 24-25, as memtier.simulation.policies.active_shrink._mm_manage states it."""
        row["fast_before"] = self.used(0) + len(cold)  # isolated pages are still the memcg's
        free = self.capacity[0] - row["fast_before"]
        nr = min(self.capacity[0], self.used(1))
        if self.max_pages is not None:
            nr = min(nr, self.max_pages)
        if self.share is not None:
            nr = self.affordable(nr, row["migration_budget_us"])
        iso = []
        if free > 0 and len(self.lists[(1, True)]) < free:
            while len(iso) < nr and self.lists[(1, False)]:
                iso.append(self.lists[(1, False)].popleft())
        while len(iso) < nr and self.lists[(1, True)]:
            iso.append(self.lists[(1, True)].popleft())
        spent = 0.0
        kept = len(iso)
        if free < len(iso):
            need = len(iso) - free
            if self.cold_check:
                iso_fast, cold = cold[:need], cold[need:]
            else:
                iso_fast = []
                while len(iso_fast) < need and self.lists[(0, False)]:
                    iso_fast.append(self.lists[(0, False)].popleft())
            if self.exchange:
                pairs = min(len(iso), len(iso_fast))
                for j in range(pairs):
                    self.move(iso_fast[-1 - j], 1, row)
                    self.move(iso[-1 - j], 0, row)
                spent += _calls_cost(pairs, self.call, self.exchange_cost)
                row["exchanged"] += pairs
                iso, iso_fast = iso[:len(iso) - pairs], iso_fast[:len(iso_fast) - pairs]
            demoted = min(len(iso_fast), self.capacity[1] - self.used(1) - len(iso))
            for page in iso_fast[:demoted]:
                self.move(page, 1, row)
            for page in reversed(iso_fast[demoted:]):
                self.putback(page)
            if self.cold_check:
                for page in reversed(cold):
                    self.putback(page)
                cold = []
            spent += _calls_cost(demoted, self.call, self.migrate_cost)
            row["demoted"] += demoted
            limit = free // 2 + demoted if not self.huge else free + demoted
            kept = 0 if limit <= 2 else min(len(iso), limit - 1)
        for page in reversed(cold):
            self.putback(page)
        for page in iso[len(iso) - kept:]:
            self.move(page, 0, row)
        for page in reversed(iso[:len(iso) - kept]):
            self.putback(page)
        spent += _calls_cost(kept, self.call, self.migrate_cost)
        row["promoted"] += kept
        row["migration_us"] += spent

    def allocate(self, page, row):
        self.new.add(page)
        if len(self.node) < self.capacity[0]:
            self.static_fast.add(page)
        if self.policy in ("lru", "oracle", "reactive-oracle"):
            fast = self.policy == "reactive-oracle" and self.period_index == 0 and page in self.static_fast
            self.node[page] = 0 if fast else 1
            if fast:
                self.fast_set.add(page)
            return
        if self.policy == "reclaim-demotion" and self.used(0) >= self.capacity[0]:
            self.reclaim(row)
        node = 0 if self.used(0) < self.capacity[0] else 1
        self.node[page] = node
        self.active[page] = True
        self.lists[(node, True)].append(page)

    def access(self, page, row):
        """One access; returns whether the fast node served it."""
        if page not in self.node:
            self.allocate(page, row)
        if self.policy == "lru":
            if page in self.lru:
                self.lru.move_to_end(page)
                return True
            if len(self.lru) == self.capacity[0]:
                victim, _ = self.lru.popitem(last=False)
                self.node[victim] = 1
                row["demoted"] += 1
            self.lru[page] = True
            self.node[page] = 0
            row["promoted"] += 1
            return False
        if self.policy == "oracle":
            return False  # decided at the period's end
        self.accessed.add(page)
        return self.node[page] == 0

    # --- the run ----------------------------------------------------------------------------
    def new_row(self):
        return dict(accesses=0, fast_hits=0, static_fast_hits=0, reactive_fast_hits=0, promoted=0, demoted=0,
                    exchanged=0, migration_us=0.0, scanned=0, scan_us=0.0, migration_budget_us=0.0, top_pages=0,
                    top_pages_fast=0, promotions_worth=0, demotions_worth=0, missed_worth=0, fast_worth=0,
                    fast_before=0, pingpong=0, stays_ended=0, stays_repaid=0, fast_used=0, slow_used=0)

    def run(self, trace):
        trace = [int(page) for page in trace]
        row = self.new_row()
        counts, order, first_fast = {}, [], {}
        self.new = set()
        remaining = self.period_units
        for i, page in enumerate(trace):
            fast = self.access(page, row)
            if page not in counts:
                counts[page] = 0
                order.append(page)
                first_fast[page] = fast
            counts[page] += 1
            row["accesses"] += 1
            row["fast_hits"] += fast
            remaining -= self.unit_fast if fast else self.unit_slow
            if remaining <= 0 or i == len(trace) - 1:
                self.close(row, counts, order, first_fast)
                row = self.new_row()
                counts, order, first_fast = {}, [], {}
                self.new = set()
                remaining = self.period_units
        return self.rows

    def close(self, row, counts, order, first_fast):
        if self.policy == "oracle":
            chosen = top_pages(counts, order, self.capacity[0])
            for page in list(self.fast_set):
                if page not in chosen:
                    self.fast_set.discard(page)
                    self.node[page] = 1
                    row["demoted"] += 1
            for page in order:
                if page in chosen and page not in self.fast_set:
                    self.fast_set.add(page)
                    self.node[page] = 0
                    row["promoted"] += 1
            row["fast_hits"] = sum(counts[page] for page in chosen)
            first_fast = {page: page in chosen for page in order}
        self.score(row, counts, order, first_fast)
        if self.policy == "active-shrink":
            hits = row["fast_hits"]
            access_us = (hits * self.fast_ns + (row["accesses"] - hits) * self.slow_ns) * 1e-3
            if self.share is not None:
                row["migration_budget_us"] = self.share * access_us
            scanned_slow, _ = self.shrink_lists_node(1, False)
            scanned_fast, cold = self.shrink_lists_node(0, self.cold_check)
            row["scanned"] += scanned_slow + scanned_fast
            row["scan_us"] += (scanned_slow + scanned_fast) * self.rmap_ns * 1e-3
            self.mm_manage(row, cold)
        elif self.policy == "reactive-oracle":
            row["fast_before"] = self.used(0)
            promoted = demoted = 0
            for page in sorted(self.fast_set):
                if page not in self.prev_top:
                    self.mark_move(page, 1, row)
                    self.fast_set.discard(page)
                    demoted += 1
            for page in order:
                if page in self.prev_top and page not in self.fast_set:
                    self.mark_move(page, 0, row)
                    self.fast_set.add(page)
                    promoted += 1
            row["promoted"], row["demoted"] = promoted, demoted
            row["migration_us"] += (_calls_cost(promoted, self.call, self.migrate_cost)
                                    + _calls_cost(demoted, self.call, self.migrate_cost))
        elif self.policy in ("lru", "oracle"):
            row["fast_before"] = self.used(0)
        else:  # reclaim decided during the period: the pages it demoted were fast then
            row["fast_before"] = self.used(0) + row["demoted"]
        if self.policy == "lru":
            row["migration_us"] = (_calls_cost(row["promoted"], self.batch, self.migrate_cost)
                                   + _calls_cost(row["demoted"], self.batch, self.migrate_cost))
        row["fast_used"] = self.used(0)
        row["slow_used"] = self.used(1)
        self.rows.append(row)
        self.period_index += 1

    def score(self, row, counts, order, first_fast):
        top = top_pages(counts, order, self.capacity[0])
        row["top_pages"] = len(top)
        row["top_pages_fast"] = sum(1 for page in top if first_fast[page])
        row["static_fast_hits"] = sum(counts[page] for page in order if page in self.static_fast)
        if self.period_index == 0:
            row["reactive_fast_hits"] = row["static_fast_hits"]
        else:
            row["reactive_fast_hits"] = sum(counts[page] for page in order if page in self.prev_top)
        for page in order:
            if counts[page] > self.worth_min:
                if page in self.judged_promoted:
                    row["promotions_worth"] += 1
                elif page in self.judged_demoted:
                    row["demotions_worth"] += 1
                    row["fast_worth"] += 1
                elif page not in self.new:
                    if first_fast[page]:
                        row["fast_worth"] += 1
                    else:
                        row["missed_worth"] += 1
            if page in self.stay:
                self.stay[page] += counts[page]
        self.prev_top = top
        self.judged_promoted, self.judged_demoted = set(), self.next_demoted
        self.next_demoted = set()

    def final_node(self, n_pages):
        return [self.node.get(page, -1) for page in range(n_pages)]

    def open_stays(self):
        return len(self.stay), sum(1 for count in self.stay.values() if count > self.worth_min)

