"""A slow, obviously correct pure-Python twin of memtier's simulator kernels.

It follows the rules stated in memtier.simulator's docstring with plain Python containers:
each list is a deque (``append`` = head, ``popleft`` = tail), the LRU an OrderedDict, the
true hot set a sort.  The tests require the numba kernels to agree with it exactly.
"""
from collections import OrderedDict, deque

SWAP_CLUSTER_MAX = 32


def _batches_cost(n, batch, cost):
    return (n // batch) * cost[batch] + cost[n % batch]


def _int_sqrt(x):
    root = 0
    while (root + 1) * (root + 1) <= x:
        root += 1
    return root


def true_hot_set(counts, first_touch_order, k):
    """The ``k`` most accessed pages; ties broken by first touch in the period."""
    ranked = sorted(first_touch_order, key=lambda page: (-counts[page], first_touch_order.index(page)))
    return set(ranked[:k])


class NaiveSimulator:
    def __init__(self, policy, fast_capacity, slow_capacity, period, page_bytes, batch_pages,
                 max_pages, exchange, fast_ns, slow_ns, share, migrate_cost, exchange_cost):
        self.policy = policy
        self.capacity = {0: fast_capacity, 1: slow_capacity}
        self.period = period
        self.page_bytes = page_bytes
        self.batch = batch_pages
        self.max_pages = max_pages
        self.exchange = exchange
        self.fast_ns, self.slow_ns, self.share = fast_ns, slow_ns, share
        self.migrate_cost, self.exchange_cost = migrate_cost, exchange_cost
        self.lists = {(node, active): deque() for node in (0, 1) for active in (False, True)}
        self.node = {}          # page -> 0 fast / 1 slow
        self.active = {}        # page -> PG_active
        self.accessed = set()   # pages whose accessed bit is set
        self.static_fast = set()
        self.lru = OrderedDict()
        self.rows = []

    # --- lists ------------------------------------------------------------------------------
    def used(self, node):
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

    def shrink_node(self, node, isolate):
        n_inactive = len(self.lists[(node, False)]) // 2
        n_active = len(self.lists[(node, True)]) // 2
        cold = self.shrink_inactive(node, n_inactive, isolate)
        if self.inactive_is_low(node, len(cold)):
            self.shrink_active(node, n_active)
        return cold

    def move(self, page, to):
        self.accessed.discard(page)
        self.node[page] = to
        self.lists[(to, self.active[page])].append(page)

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
                    self.move(page, 1)
                    demoted += 1
                else:
                    self.lists[(0, False)].append(page)
            scanned += n
        row["demoted"] += demoted
        row["migration_us"] += _batches_cost(demoted, self.batch, self.migrate_cost)

    def migrate(self, row, budget, cold):
        hot = len(self.lists[(1, True)])
        if self.max_pages is not None:
            hot = min(hot, self.max_pages)
        spent = 0.0
        fast_used = lambda: self.used(0) + len(cold)  # isolated pages are still on the node
        def affordable(k, cost, factor):
            while k > 0 and factor * cost[k] > budget - spent:
                k -= 1
            return k

        while hot > 0 and fast_used() < self.capacity[0]:
            k = affordable(min(self.batch, hot, self.capacity[0] - fast_used()), self.migrate_cost, 1.0)
            if k == 0:
                hot = 0
                break
            spent += self.migrate_cost[k]
            for _ in range(k):
                self.move(self.lists[(1, True)].popleft(), 0)
            row["promoted"] += k
            hot -= k
        while hot > 0 and cold:
            k = min(self.batch, hot, len(cold))
            if self.exchange:
                k = affordable(k, self.exchange_cost, 1.0)
                cost = self.exchange_cost[k]
            else:
                k = affordable(min(k, self.capacity[1] - self.used(1)), self.migrate_cost, 2.0)
                cost = 2.0 * self.migrate_cost[k]
            if k == 0:
                break
            spent += cost
            for _ in range(k):
                hot_page = self.lists[(1, True)].popleft()
                self.move(cold.pop(0), 1)
                self.move(hot_page, 0)
            if self.exchange:
                row["exchanged"] += k
            else:
                row["demoted"] += k
                row["promoted"] += k
            hot -= k
        row["migration_us"] += spent
        self.lists[(0, False)].extend(cold)

    def allocate(self, page, row):
        if len(self.node) < self.capacity[0]:
            self.static_fast.add(page)
        if self.policy == "reclaim" and self.used(0) >= self.capacity[0]:
            self.reclaim(row)
        node = 0 if self.used(0) < self.capacity[0] else 1
        self.node[page] = node
        self.active[page] = True
        self.lists[(node, True)].append(page)

    def access_lru(self, page, row):
        if page not in self.node:
            if len(self.node) < self.capacity[0]:
                self.static_fast.add(page)
            self.node[page] = 1
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

    # --- the run ----------------------------------------------------------------------------
    def run(self, trace):
        trace = [int(page) for page in trace]
        for start in range(0, len(trace), self.period):
            accesses = trace[start:start + self.period]
            row = dict(accesses=len(accesses), fast_hits=0, static_fast_hits=0, promoted=0,
                       demoted=0, exchanged=0, migration_us=0.0, migration_budget_us=0.0)
            counts, order = {}, []
            if self.policy == "oracle":
                self.run_oracle_period(accesses, row)
                continue
            for page in accesses:
                if page not in counts:
                    counts[page] = 0
                    order.append(page)
                counts[page] += 1
                if self.policy == "lru":
                    fast = self.access_lru(page, row)
                else:
                    if page not in self.node:
                        self.allocate(page, row)
                    fast = self.node[page] == 0
                    self.accessed.add(page)
                row["fast_hits"] += fast
                row["static_fast_hits"] += page in self.static_fast
            if self.policy == "lru":
                row["migration_us"] = (_batches_cost(row["promoted"], self.batch, self.migrate_cost)
                                       + _batches_cost(row["demoted"], self.batch, self.migrate_cost))
                classified = set(self.lru)
            else:
                if self.policy == "active-shrink":
                    hits = row["fast_hits"]
                    access_us = (hits * self.fast_ns + (len(accesses) - hits) * self.slow_ns) * 1e-3
                    budget = self.share * access_us
                    row["migration_budget_us"] = budget
                    self.shrink_node(1, isolate=False)
                    cold = self.shrink_node(0, isolate=True)
                    self.migrate(row, budget, cold)
                classified = {page for page, active in self.active.items() if active}
            truth = true_hot_set(counts, order, self.capacity[0])
            row["classified_hot"] = len(classified)
            row["true_hot"] = len(truth)
            row["true_positive"] = len(truth & classified)
            row["fast_used"] = sum(1 for node in self.node.values() if node == 0)
            row["slow_used"] = sum(1 for node in self.node.values() if node == 1)
            self.rows.append(row)
        return self.rows

    def run_oracle_period(self, accesses, row):
        counts, order = {}, []
        for page in accesses:
            if page not in self.node:
                if len(self.node) < self.capacity[0]:
                    self.static_fast.add(page)
                self.node[page] = 1
            if page not in counts:
                counts[page] = 0
                order.append(page)
            counts[page] += 1
            row["static_fast_hits"] += page in self.static_fast
        chosen = true_hot_set(counts, order, self.capacity[0])
        for page, node in self.node.items():
            if node == 0 and page not in chosen:
                self.node[page] = 1
                row["demoted"] += 1
            elif node == 1 and page in chosen:
                self.node[page] = 0
                row["promoted"] += 1
        row["fast_hits"] = sum(counts[page] for page in chosen)
        row["classified_hot"] = row["true_hot"] = row["true_positive"] = len(chosen)
        row["fast_used"] = len(chosen)
        row["slow_used"] = len(self.node) - len(chosen)
        self.rows.append(row)

    def final_node(self, n_pages):
        return [self.node.get(page, -1) for page in range(n_pages)]
