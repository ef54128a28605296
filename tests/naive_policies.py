"""Slow, plain-Python twins of the classifier policies of memtier.simulation.policies.

Each twin follows its module's docstring with Python containers (dicts, sets, deques,
lists) and records, per access, whether it was served fast, the pages promoted and demoted
while serving it, and the time charged; the tests hold the numba kernels equal to them on
random traces.  Parameters arrive as the kernel's ``pconfig`` (the module's
``make_pconfig``, plain Python arithmetic on the documented parameters).
"""
import math
from collections import deque
from math import isqrt

SWAP_CLUSTER_MAX = 32
DEF_PRIORITY, MAX_RECLAIM_RETRIES = 12, 16  # mm/vmscan.c, mm/internal.h (6.1)


def _calls_cost(n, call, cost):
    return (n // call) * cost[call] + cost[n % call]


class _Record:
    def __init__(self):
        self.rows = []

    def new(self):
        self.rows.append(dict(fast=0, promoted=0, demoted=0, overhead_us=0.0, migration_us=0.0, events=0))
        return self.rows[-1]


class _Base:
    """Nodes, the clock and the records every twin shares."""

    def __init__(self, fast_capacity, slow_capacity, fast_ns, slow_ns, migrate_cost, batch_pages):
        self.capacity, self.slow_capacity = fast_capacity, slow_capacity
        self.fast_ns, self.slow_ns = fast_ns, slow_ns
        self.cost, self.batch = migrate_cost, batch_pages
        self.node = {}  # page -> 0 fast, 1 slow
        self.now = 0.0
        self.record = _Record()
        self.row = None

    @property
    def fast_used(self):
        return sum(1 for n in self.node.values() if n == 0)

    @property
    def slow_used(self):
        return sum(1 for n in self.node.values() if n == 1)

    def overhead(self, ns, events):
        self.now += ns
        self.row["overhead_us"] += ns * 1e-3
        self.row["events"] += events

    def migration(self, us):
        self.now += us * 1e3
        self.row["migration_us"] += us

    def move(self, page, to_fast):
        self.node[page] = 0 if to_fast else 1
        self.row["promoted" if to_fast else "demoted"] += 1

    def serve(self, page):
        fast = self.node[page] == 0
        self.row["fast"] = int(fast)
        self.now += self.fast_ns if fast else self.slow_ns

    def final_node(self, n_pages):
        return [self.node.get(page, -1) for page in range(n_pages)]


class NaiveNumaBalancing(_Base):
    """numa-balancing / tpp (memtier.simulation.policies.numa_balancing)."""

    def __init__(self, p, fast_capacity, slow_capacity, page_bytes, rmap_ns, **common):
        super().__init__(fast_capacity, slow_capacity, **common)
        self.p = p
        self.page_bytes, self.rmap_ns = page_bytes, rmap_ns
        self.inactive, self.active = deque(), deque()  # append = head, popleft = tail
        self.accessed, self.is_active, self.referenced = set(), set(), set()
        self.armed = {}  # page -> scan time (ms)
        self.offset = 0
        self.next_scan = p[0]
        self.period_ms = p[0] * 1e-6
        # scan_tick_gate: node_stamp and numa_next_scan on the clock
        self.stamp, self.due = 0.0, p[0]
        self.seq = self.placement_seq = 0
        self.nr_cand = self.rl_start = self.rl_nr_cand = self.th = self.th_start = self.th_nr_cand = 0
        if self._p("th_at_once"):  # the first adjustment at the first fault
            self.th_start = -(int(self._p("th_period")) + 1)
        # kswapd: awake or not, its own clock (ns), pages scanned since it woke and its limit
        self.awake, self.k_ns, self.k_scanned, self.k_limit = False, 0.0, 0, 0
        self.pgtables = set()  # 2 MB pieces of address space with a page table
        self.lag = 0.0  # work charged that the accesses' slack has not paid back yet (ns)
        self.in_low = set()  # fast pages in the fast node's low zone (low_zone_pages)
        # kswapd_priority (balance_pgdat): priority, pages left in the pass (inactive, active),
        # its scanned and demoted pages, the run's demoted pages, kswapd_failures
        self.prio, self.left, self.active_left = DEF_PRIORITY, 0, 0
        self.pass_scanned = self.pass_demoted = self.run_demoted = self.failures = 0
        # pgtable_pages: the fast node's pages given to page tables (main zone, low zone);
        # direct_reclaim's calls, pages scanned and demoted
        self.kernel_main = self.kernel_low = 0
        self.dr_calls = self.dr_scanned = self.dr_demoted = 0
        # /proc/vmstat's events: PTEs armed, hint faults, inactive pages isolated by reclaim (kswapd's
        # and direct reclaim's together; the latter are dr_scanned)
        self.pte_updates = self.hint_faults = self.pgscan = 0
        # balance_pgdat runs begun; kswapd_cpu_slices: kswapd's vruntime and CPU time, when the task was
        # last picked; pcp_high_pages: the main zone's per-CPU list (all pages, the unmovable ones) and
        # its free_factor
        self.runs = 0
        self.ks_vr = self.ks_cpu = self.task_picked = 0.0
        self.pcp = self.pcp_unmovable = self.pcp_factor = 0

    # pconfig: scan period ns, scan pages, align, threshold period ms, hot ms, rate pages, min,
    # low, high, promo, enough, wake, target, tpp, fault ns, pte ns, shortest period (ms), floor (ms),
    # first scan ns, first period ms, fast-path fallback, page tables wake kswapd, ns a page
    # demoted, ns a page scanned and kept, scan overhead limit, scan cost charged, ns a page armed,
    # placement doubles the period, kswapd's CPU time a page demoted / kept on a shared CPU, a
    # promotion's time on the task, an access's time to spare, referenced pages kept once, a first
    # touch's time, share / (1 - share) of kswapd_cpu_share, the low zone's pages, protection and
    # its min, low, high and promo watermarks, kswapd_priority, swappiness, nr_to_reclaim and the
    # zones' high watermarks summed, page tables the fast node's, direct reclaim and its ns a page
    # demoted / kept, kswapd_cpu_slices and the tick (ns), the per-CPU list's high and batch,
    # scan_tick_gate and its 2 ticks (ns), scan_time_ticks' tick (ns), threshold_adjusts_at_once,
    # scan_fast_ns
    def _p(self, name):
        names = ["scan_ns", "scan_pages", "align", "th_period", "hot_ms", "rate", "min", "low", "high", "promo",
                 "enough", "wake", "target", "tpp", "fault_ns", "pte_ns", "period_min", "floor", "first_scan_ns",
                 "first_period_ms", "fallback", "pgtable_wake", "demote_ns", "keep_ns", "scan_limit", "scan_charged",
                 "arm_ns", "doubles", "steal_demote_ns", "steal_keep_ns", "promote_ns", "slack_ns", "keep_once",
                 "touch_ns", "cfs_slow", "lz_pages", "lz_prot", "lz_min", "lz_low", "lz_high", "lz_promo",
                 "prio_loop", "swappiness", "nr_to_reclaim", "high_total", "pgtable_pages", "direct_reclaim",
                 "dr_demote_ns", "dr_keep_ns", "slices", "tick_ns", "pcp_high", "pcp_batch",
                 "tick_gate", "stamp_ticks_ns", "scan_tick_ns", "th_at_once", "fast_ns"]
        return self.p[names.index(name)]

    def free(self):
        return self.capacity - self.fast_used - self.kernel_main - self.kernel_low - self.pcp

    def zone_with_room(self, mark, low_mark):
        """The fast node's zone an allocation at these watermarks gets, by the zonelist (the
        main zone, then the low one: get_page_from_freelist); "main", "low" or None.  A zone
        passes with more free pages than its watermark plus its lowmem_reserve (the low zone's
        protection; the main zone's is 0).  One zone (no low_zone_pages): the node against
        ``mark``.  fast_capacity counts the low zone's pages less its protection, so the main
        zone has fast_capacity - (low_zone_pages - protection) pages."""
        if not self._p("lz_pages"):
            return "main" if self.free() > mark else None
        low_pages, protection = self._p("lz_pages"), self._p("lz_prot")
        main_pages = self.capacity - (low_pages - protection)
        main_free = main_pages - (self.fast_used - len(self.in_low)) - self.kernel_main - self.pcp
        low_free = low_pages - len(self.in_low) - self.kernel_low
        if main_free > mark:
            return "main"
        if low_free > low_mark + protection:
            return "low"
        return None

    def balanced(self):
        """pgdat_balanced: any zone above its promo watermark (tpp: the node above its
        demotion watermark)."""
        return self.zone_with_room(self._p("target"), self._p("lz_promo")) is not None

    def place_fast(self, page, zone):
        if zone == "low":
            self.in_low.add(page)
        else:
            self.pcp_take(False)

    def pcp_free(self, n):
        """n pages of the main zone freed onto its per-CPU list (free_unref_page_commit), the list
        bulk-freed (free_pcppages_bulk, nr_pcp_free) at nr_pcp_high, the movable pages first."""
        high_set, batch = int(self._p("pcp_high")), int(self._p("pcp_batch"))
        if not high_set:
            return
        for _ in range(n):
            self.pcp += 1
            high = min(batch * 4, high_set) if self.awake else high_set  # ZONE_RECLAIM_ACTIVE
            if self.pcp >= high:
                if high < batch:
                    count = 1
                else:
                    count = batch * 2 ** self.pcp_factor
                    if count < high - batch:
                        self.pcp_factor += 1
                    count = min(max(count, batch), high - batch)
                count = min(count, self.pcp)
                self.pcp_unmovable -= max(0, count - (self.pcp - self.pcp_unmovable))
                self.pcp -= count

    def pcp_take(self, unmovable):
        """A main-zone page off its list (rmqueue_pcplist), refilled with a batch when empty."""
        if not self._p("pcp_high"):
            return
        batch = int(self._p("pcp_batch"))
        self.pcp_factor //= 2
        if unmovable:
            if self.pcp_unmovable == 0:
                self.pcp_unmovable += batch
                self.pcp += batch
            self.pcp_unmovable -= 1
        elif self.pcp == self.pcp_unmovable:
            self.pcp += batch
        self.pcp -= 1

    def move(self, page, to_fast):
        if not to_fast:
            self.in_low.discard(page)  # demoted: its zone has the page back
        super().move(page, to_fast)

    def inactive_is_low(self):
        inactive, active = len(self.inactive), len(self.active)
        gigabytes = ((inactive + active) * self.page_bytes) >> 30
        ratio = isqrt(10 * gigabytes) if gigabytes else 1
        return inactive * ratio < active

    def deactivate(self, n):
        """shrink_active_list: n pages from the active tail to the inactive head, unreferenced."""
        for _ in range(min(n, len(self.active))):
            page = self.active.popleft()
            self.accessed.discard(page)
            self.is_active.discard(page)
            self.inactive.append(page)

    def kswapd_batch(self, n_inactive=SWAP_CLUSTER_MAX, n_active=0, refill=True):
        """One round: (the earlier rule) refill the inactive list while it is low, then up to
        n_inactive pages off its tail, then n_active pages off the active tail."""
        scanned = low_freed = 0
        while refill and self.inactive_is_low() and self.active:
            n = min(SWAP_CLUSTER_MAX, len(self.active))
            self.deactivate(n)
            scanned += n
        n = min(n_inactive, len(self.inactive))
        demoted = 0
        for _ in range(n):
            page = self.inactive.popleft()
            if page in self.accessed:
                self.accessed.discard(page)
                if self._p("keep_once") and page not in self.referenced:  # kept, PG_referenced set
                    self.referenced.add(page)
                    self.inactive.append(page)
                else:
                    self.is_active.add(page)
                    self.active.append(page)
            elif self.slow_used < self.slow_capacity:
                self.accessed.discard(page)
                if self._p("keep_once"):
                    self.referenced.discard(page)
                low_freed += page in self.in_low
                self.move(page, False)
                demoted += 1
            else:
                self.inactive.append(page)
        scanned += n
        n_active = min(n_active, len(self.active))
        self.deactivate(n_active)
        scanned += n_active
        if demoted:
            self.migration(_calls_cost(demoted, self.batch, self.cost))
            self.pcp_free(demoted - low_freed)
        if scanned:
            self.overhead(scanned * self.rmap_ns, scanned)
        self.k_scanned += scanned
        self.pgscan += n
        return n, demoted

    def age(self):
        if self.inactive_is_low():
            self.deactivate(SWAP_CLUSTER_MAX)

    def pass_start(self):
        """balance_pgdat's loop top: kswapd_age_node, then get_scan_count's targets."""
        self.age()
        may_deactivate = self.inactive_is_low()
        free = self.free() + (self._p("lz_prot") if self._p("lz_pages") else 0)
        target, active_target = len(self.inactive) >> self.prio, len(self.active) >> self.prio
        tiny = free <= self._p("high_total") and not may_deactivate and target > 0
        if not tiny:  # SCAN_FRACT: anon's share swappiness / 200
            target = target * int(self._p("swappiness")) // 200
            active_target = active_target * int(self._p("swappiness")) // 200
        self.left, self.active_left = target, (active_target if may_deactivate else 0)
        self.pass_scanned = self.pass_demoted = 0

    def pass_end(self):
        """A pass done: the priority, the run's end, kswapd_try_to_sleep; True if asleep."""
        self.age()
        self.run_demoted += self.pass_demoted
        if self.pass_demoted:
            self.failures = 0
        if self.pass_scanned < self._p("nr_to_reclaim") or not self.pass_demoted:
            self.prio -= 1
        if self.prio < 1:
            if not self.run_demoted:
                self.failures += 1
            if self.failures >= MAX_RECLAIM_RETRIES:  # hopeless
                self.awake = False
                return True
            self.prio, self.run_demoted = DEF_PRIORITY, 0
            if not self.balanced():  # balance_pgdat again
                self.runs += 1
        if self.balanced():
            self.awake = False
            return True
        return False

    def kswapd_until(self, until_ns):
        """kswapd's rounds due by ``until_ns``, each at its own clock, which moves on by the
        time its pages took; asleep once balanced, scanned twice over, or out of pages
        (kswapd_priority: balance_pgdat's passes, see the module)."""
        if self._p("slices"):
            if self.awake and self.k_ns <= until_ns:
                self.kswapd_slices()
            return
        if self._p("prio_loop"):
            while self.awake and self.k_ns <= until_ns:
                self.k_ns += self.balance_step()
            return
        while self.awake and self.k_ns <= until_ns:
            if self.balanced() or self.k_scanned >= self.k_limit:
                self.awake = False
                break
            n, demoted = self.kswapd_batch()
            if n == 0:
                self.awake = False
                break
            self.k_ns += demoted * self._p("demote_ns") + (n - demoted) * self._p("keep_ns")
            self.steal(demoted * self._p("steal_demote_ns") + (n - demoted) * self._p("steal_keep_ns"))
            if self._p("cfs_slow") and self.balanced():  # one CPU: balance_pgdat checks right after its round
                self.awake = False
                break

    def balance_step(self):
        """A round of balance_pgdat's pass (a pass begun first if the last one ended, its end
        when the round ends it); kswapd's CPU time for it."""
        if self.left == 0:
            self.pass_start()
            if self.left == 0:
                self.pass_end()
                return 0.0
        n_inactive, n_active = min(SWAP_CLUSTER_MAX, self.left), min(SWAP_CLUSTER_MAX, self.active_left)
        self.left -= n_inactive
        self.active_left -= n_active
        n, demoted = self.kswapd_batch(n_inactive, n_active, refill=False)
        self.pass_scanned += n
        self.pass_demoted += demoted
        self.steal(demoted * self._p("steal_demote_ns") + (n - demoted) * self._p("steal_keep_ns"))
        if self.pass_demoted >= self._p("nr_to_reclaim"):
            self.left = 0
        if self.left == 0:
            self.pass_end()
        return demoted * self._p("demote_ns") + (n - demoted) * self._p("keep_ns")

    def next_pick(self, t):
        """kswapd waiting from t: the first tick after t at which the task, on the CPU since
        task_picked, is rescheduled (its slice run, or past the minimum granularity a slice ahead)
        and kswapd's vruntime is not above its own."""
        tick = self._p("tick_ns")
        picked = self.task_picked
        at = (t // tick + 1) * tick
        while True:
            ran, task_vr = at - picked, at - self.ks_cpu
            if ran > 3e6 or (ran >= 0.75e6 and task_vr - self.ks_vr > 3e6):
                if self.ks_vr <= task_vr:
                    return at
                picked = at
            at += tick

    def kswapd_slices(self):
        """kswapd on the CPU from now: balance_pgdat's steps until it sleeps or a tick after its
        slice (at a step's end) gives the CPU back to the task; the clock runs on meanwhile."""
        start = t = picked = self.now
        task_vr, vr, tick = start - self.ks_cpu, self.ks_vr, self._p("tick_ns")
        at = (t // tick + 1) * tick
        preempted = False
        while self.awake and not preempted:
            t += self.balance_step()
            while at <= t and not preempted:
                ran, tick_vr = at - picked, vr + (at - start)
                if ran > 3e6 or (ran >= 0.75e6 and tick_vr - task_vr > 3e6):
                    if task_vr <= tick_vr:
                        preempted = True
                    else:
                        picked = at
                at += tick
        self.ks_vr = vr + (t - start)
        self.ks_cpu += t - start
        self.now = self.task_picked = t
        if self.awake:
            self.k_ns = self.next_pick(t)

    def direct_reclaim(self):
        """do_try_to_free_pages of the fast node (6.1): priorities 12 down to 0, targets as
        get_scan_count's for a fresh scan_control (SCAN_EQUAL at 0), rounds of 32, all of the
        target at DEF_PRIORITY, below it stopping once the priority demoted 32; done at 32 in all.
        Returns (demoted, the task's ns)."""
        k_scanned = self.k_scanned
        reclaimed, ns = 0, 0.0
        self.dr_calls += 1
        for prio in range(DEF_PRIORITY, -1, -1):
            may_deactivate = self.inactive_is_low()
            free = self.free() + (self._p("lz_prot") if self._p("lz_pages") else 0)
            target, active_target = len(self.inactive) >> prio, len(self.active) >> prio
            tiny = free <= self._p("high_total") and not may_deactivate and target > 0
            if prio and not tiny:
                target = target * int(self._p("swappiness")) // 200
                active_target = active_target * int(self._p("swappiness")) // 200
            if not may_deactivate:
                active_target = 0
            local = 0
            while target > 0:
                n_inactive, n_active = min(SWAP_CLUSTER_MAX, target), min(SWAP_CLUSTER_MAX, active_target)
                target -= n_inactive
                active_target -= n_active
                n, demoted = self.kswapd_batch(n_inactive, n_active, refill=False)
                local += demoted
                self.dr_scanned += n
                ns += demoted * self._p("dr_demote_ns") + (n - demoted) * self._p("dr_keep_ns")
                if n == 0 or (local >= SWAP_CLUSTER_MAX and prio != DEF_PRIORITY):
                    break
            self.age()
            reclaimed += local
            if local:
                self.failures = 0  # a successful direct reclaim revives kswapd
            if reclaimed >= SWAP_CLUSTER_MAX:
                break
        self.dr_demoted += reclaimed
        self.k_scanned = k_scanned
        return reclaimed, ns

    def kernel_page(self):
        """A page table's page: the zonelist at low, else at min, else direct reclaim (again
        while it demotes and no zone passes, at most 16 times), then below min if it must."""
        ns = 0.0
        zone = self.zone_with_room(self._p("low"), self._p("lz_low"))
        if zone is None:
            zone = self.zone_with_room(self._p("min"), self._p("lz_min"))
        tries = 0
        while zone is None and self._p("direct_reclaim") and tries < MAX_RECLAIM_RETRIES:
            reclaimed, more = self.direct_reclaim()
            ns += more
            tries += 1
            zone = self.zone_with_room(self._p("min"), self._p("lz_min"))
            if not reclaimed:
                break
        if zone == "low":
            self.kernel_low += 1
        else:
            self.kernel_main += 1
            self.pcp_take(True)
        return ns

    def kswapd(self):
        """wakeup_kswapd."""
        if self.awake or self.balanced():
            return
        if self._p("prio_loop"):
            if self.failures >= MAX_RECLAIM_RETRIES:
                return
            self.prio, self.left, self.active_left, self.run_demoted = DEF_PRIORITY, 0, 0, 0
        self.awake, self.k_scanned = True, 0
        self.k_limit = 2 * (len(self.inactive) + len(self.active)) + SWAP_CLUSTER_MAX
        self.k_ns = self.now
        self.runs += 1
        if self._p("slices"):  # placed at most 3 ms behind the task; preempts it if over 1 ms behind
            task_vr = self.now - self.ks_cpu
            self.ks_vr = max(self.ks_vr, task_vr - 3e6)
            if task_vr - self.ks_vr <= 1e6:
                self.k_ns = self.next_pick(self.now)
            return
        self.kswapd_until(self.now)

    def hint_fault(self, page):
        self.overhead(self._p("fault_ns"), 1)
        self.task_ns += self._p("fault_ns")
        scan_ms = self.armed.pop(page)
        self.hint_faults += 1
        if self._p("tpp") and page not in self.is_active:
            if page in self.referenced:
                self.is_active.add(page)
                self.referenced.discard(page)
            else:
                self.referenced.add(page)
            return
        now_ms = int(self.now // 1e6)
        enough = self._p("enough")
        if self.zone_with_room(self._p("promo") + enough, self._p("lz_promo") + enough):  # pgdat_free_space_enough
            self.th = 0
        else:
            hot_ms, rate = int(self._p("hot_ms")), int(self._p("rate"))
            period = int(self._p("th_period"))
            if now_ms - self.th_start > period:  # numa_promotion_adjust_threshold
                self.th_start = now_ms
                ref_cand = rate * period // 1000
                diff = self.nr_cand - self.th_nr_cand
                unit = hot_ms * 2 // 16
                th = self.th or hot_ms
                if diff > ref_cand * 11 // 10:
                    th = max(th - unit, unit)
                elif diff < ref_cand * 9 // 10:
                    th = min(th + unit, 2 * hot_ms)
                self.th_nr_cand = self.nr_cand
                self.th = th
            if now_ms - scan_ms >= (self.th or hot_ms):
                return
            self.nr_cand += 1  # numa_promotion_rate_limit
            if now_ms - self.rl_start > 1000:
                self.rl_start = now_ms
                self.rl_nr_cand = self.nr_cand
            if self.nr_cand - self.rl_nr_cand >= rate:
                return
        if self.zone_with_room(self._p("high") + 1, self._p("lz_high") + 1):  # migrate_balanced_pgdat
            self.accessed.discard(page)
            # the new page from the zonelist at the low watermark (migrate_balanced_pgdat
            # passed, so some zone is above it)
            self.place_fast(page, self.zone_with_room(self._p("low"), self._p("lz_low")))
            self.move(page, True)
            (self.active if page in self.is_active else self.inactive).append(page)
            self.migration(self.cost[1])
            if self._p("promote_ns"):
                self.migration(self._p("promote_ns") * 1e-3)
            self.task_ns += self.cost[1] * 1e3 + self._p("promote_ns")
            self.placement()
        else:
            self.kswapd()

    def steal(self, ns):
        """kswapd's CPU time on the task's CPU holds the scanner's run-time timer back."""
        self.next_scan += ns
        self.stamp += ns

    def tick_gate(self):
        """scan_tick_gate: the first window of task_tick_numa (run time past node_stamp + the
        period) at or after numa_next_scan; each window before it moves node_stamp on."""
        period_ns = self.period_ms * 1e6
        while self.stamp + period_ns < self.due:
            self.stamp += period_ns
        self.next_scan = self.stamp + period_ns

    def placement(self):
        """The first promoting fault of a new scan pass lengthens the scan period."""
        if self.seq == self.placement_seq:
            return
        self.placement_seq = self.seq
        rss = max(len(self.node), 1)
        scan_pages = int(self._p("scan_pages"))
        windows = -(-rss // scan_pages)
        shortest = max(self._p("floor"), self._p("period_min") / windows)
        longest = max(shortest, self._p("th_period") / windows)
        if self._p("doubles"):  # 6.1, tiering: no local fault, the period doubles, the next scan moves
            self.period_ms = min(2 * self.period_ms, longest)
            self.next_scan = self.due = self.now + self.period_ms * 1e6
        else:
            self.period_ms = min(max(self.period_ms + 3 * (self.period_ms / 10), shortest), longest)
        if self._p("tick_gate"):
            self.tick_gate()

    def scan(self, n_pages):
        now_ms = int(self.now // 1e6)
        align, pages = int(self._p("align")), int(self._p("scan_pages"))
        virtpages = 8 * pages
        start = self.offset
        walked = fast = armed = 0
        while True:
            if start >= n_pages:
                start = 0
                self.seq += 1
                break
            end = min(-(-(start + pages) // align) * align, n_pages)
            updates = 0
            for page in range(start, end):
                if page in self.node:
                    walked += 1
                    fast += self.node[page] == 0
                    if self.node[page] == 1 and page not in self.armed:
                        self.armed[page] = now_ms
                        updates += 1
            armed += updates
            if updates:
                pages -= end - start
            virtpages -= end - start
            start = end
            if pages <= 0 or virtpages <= 0:
                break
        self.offset = start
        self.pte_updates += armed
        scan_ns = walked * self._p("pte_ns") + fast * self._p("fast_ns") + armed * self._p("arm_ns")
        if self._p("scan_charged"):
            self.overhead(scan_ns, 0)
        return scan_ns

    def slack(self):
        return min(self._p("slack_ns"), self.fast_ns, self.slow_ns)

    def serve(self, page):
        """An access; while the clock is ahead of the accesses' own time, it takes up to its
        slack less (access_slack_ns)."""
        fast = self.node[page] == 0
        self.row["fast"] = int(fast)
        latency = self.fast_ns if fast else self.slow_ns
        if self.slack() > 0 and self.lag > 0:
            absorb = min(self.slack(), self.lag)
            latency -= absorb
            self.lag -= absorb
        self.now += latency

    def run(self, trace, n_pages):
        floor = self._p("low") if self._p("fallback") else self._p("min")
        low_zone_floor = self._p("lz_low") if self._p("fallback") else self._p("lz_min")
        for page in trace:
            page = int(page)
            self.row = self.record.new()
            before = self.now
            self.task_ns = 0.0  # the task's own work at this access: its first touch or hint fault
            if page not in self.node:
                self.kswapd_until(self.now)
                block = page // max(1, int(self._p("align")))
                new_table = block not in self.pgtables
                self.pgtables.add(block)
                if self._p("pgtable_wake"):
                    if new_table and self.zone_with_room(self._p("low"), self._p("lz_low")) is None:
                        self.kswapd()  # a page table: node 0 only, woken below low
                elif self.free() <= self._p("wake"):
                    self.kswapd()
                if new_table and self._p("pgtable_pages"):  # its page, before the user page
                    ns = self.kernel_page()
                    self.now += ns
                    self.task_ns += ns
                slow_full = self.slow_used >= self.slow_capacity
                zone = self.zone_with_room(floor, low_zone_floor)
                fast = zone is not None or slow_full
                if (self._p("pgtable_wake") and slow_full
                        and self.zone_with_room(self._p("low"), self._p("lz_low")) is None):
                    self.kswapd()
                self.node[page] = 0 if fast else 1
                if fast:
                    self.place_fast(page, zone)  # no zone passed (the slow node full): the main zone
                    self.inactive.append(page)
                self.now += self._p("touch_ns")  # do_anonymous_page, on the task's clock
                self.task_ns += self._p("touch_ns")
            elif page in self.armed:
                self.kswapd_until(self.now)
                self.hint_fault(page)
            if self._p("cfs_slow") and self.awake:  # one CPU shared with kswapd (CFS)
                self.now += self.task_ns * self._p("cfs_slow")
            if self.slack() > 0:
                self.lag += self.now - before
            self.serve(page)
            self.accessed.add(page)
            now = self.now
            if now >= self.next_scan or (self.awake and now >= self.k_ns):
                self.kswapd_until(now)
                if now >= self.next_scan:
                    scan_ns = self.scan(n_pages)
                    if self._p("scan_tick_ns"):  # scan_time_ticks: the whole ticks within the scan
                        scan_ns = self._p("scan_tick_ns") * math.floor(scan_ns / self._p("scan_tick_ns"))
                    if self._p("tick_gate"):  # numa_next_scan from the scan's start; node_stamp + 2 ticks
                        self.due = now + self.period_ms * 1e6
                        self.stamp = now + self._p("stamp_ticks_ns") + self._p("scan_limit") * scan_ns
                        self.tick_gate()
                    else:
                        # the next scan waits scan_limit x this one's time besides the period
                        self.next_scan = self.now + self.period_ms * 1e6 + self._p("scan_limit") * scan_ns
                if self.slack() > 0:
                    self.lag += self.now - now
        return self.record.rows


class NaiveHeMem(_Base):
    """hemem (memtier.simulation.policies.hemem)."""

    def __init__(self, p, fast_capacity, slow_capacity, **common):
        super().__init__(fast_capacity, slow_capacity, **common)
        (self.period, self.read_hot, self.write_hot, self.cool_threshold, self.interval, self.quota,
         self.cooling_pages, self.sample_ns) = p
        self.lists = {name: [] for name in ("dram_hot", "dram_cold", "nvm_hot", "nvm_cold")}  # oldest first
        self.reads, self.writes, self.local = {}, {}, {}
        self.clock = 0
        self.need_cool = {"dram": False, "nvm": False}
        self.cursor = {"dram": None, "nvm": None}
        self.left = {False: int(self.period), True: int(self.period)}
        self.next_pass = self.interval

    def where(self, page):
        return next(name for name, pages in self.lists.items() if page in pages)

    def remove(self, page):
        name = self.where(page)
        pages = self.lists[name]
        i = pages.index(page)
        for kind in ("dram", "nvm"):
            if self.cursor[kind] == page:
                self.cursor[kind] = pages[i + 1] if i + 1 < len(pages) else None
        del pages[i]

    def hot(self, page, shift=0):
        return (self.writes[page] >> shift) >= self.write_hot or (self.reads[page] >> shift) >= self.read_hot

    def sample(self, page, is_write):
        (self.writes if is_write else self.reads)[page] += 1
        name = self.where(page)
        kind = name.split("_")[0]
        if self.hot(page):
            if name.endswith("cold"):
                self.remove(page)
                self.lists[kind + "_hot"].append(page)
        elif name.endswith("hot"):
            self.remove(page)
            self.lists[kind + "_cold"].append(page)
        shift = min(self.clock - self.local[page], 31)
        self.reads[page] >>= shift
        self.writes[page] >>= shift
        self.local[page] = self.clock
        if (self.writes if is_write else self.reads)[page] > self.cool_threshold:
            self.clock += 1
            self.need_cool = {"dram": True, "nvm": True}

    def cool(self, kind):
        if not self.need_cool[kind]:
            return
        hot = self.lists[kind + "_hot"]
        page = self.cursor[kind] if self.cursor[kind] is not None else (hot[0] if hot else None)
        for _ in range(int(self.cooling_pages)):
            if page is None:
                break
            i = hot.index(page)
            following = hot[i + 1] if i + 1 < len(hot) else None
            if not self.hot(page, min(self.clock - self.local[page], 31)):
                self.remove(page)
                self.lists[kind + "_cold"].append(page)
            page = following
        if page is None:
            self.need_cool[kind] = False
        self.cursor[kind] = page

    def policy_pass(self):
        migrated = 0
        while migrated < self.quota:
            if not self.lists["nvm_hot"]:
                break
            page = self.lists["nvm_hot"][0]
            self.remove(page)
            if not self.hot(page):
                self.lists["nvm_cold"].append(page)
                continue
            if self.fast_used >= self.capacity:
                victim = self.lists["dram_cold"][0] if self.lists["dram_cold"] else None
                if victim is None or self.slow_used >= self.slow_capacity:
                    self.lists["nvm_hot"].append(page)
                    return
                self.remove(victim)
                self.move(victim, False)
                self.lists["nvm_cold"].append(victim)
                self.migration(self.cost[1])
            self.move(page, True)
            self.lists["dram_hot"].append(page)
            self.migration(self.cost[1])
            migrated += 1
        self.cool("dram")
        self.cool("nvm")

    def run(self, trace, writes=None):
        for j, page in enumerate(trace):
            page = int(page)
            self.row = self.record.new()
            if page not in self.node:
                fast = self.fast_used < self.capacity
                self.node[page] = 0 if fast else 1
                self.lists["dram_cold" if fast else "nvm_cold"].append(page)
                self.reads[page] = self.writes[page] = self.local[page] = 0
            self.serve(page)
            is_write = bool(writes[j]) if writes is not None else False
            self.left[is_write] -= 1
            if self.left[is_write] == 0:
                self.left[is_write] = int(self.period)
                self.overhead(self.sample_ns, 1)
                self.sample(page, is_write)
            if self.now >= self.next_pass:
                self.policy_pass()
                self.next_pass = self.now + self.interval
        return self.record.rows


def _get_idx(num):
    """MEMTIS's ``get_idx``: floor(log2(num + 1)), at most 15."""
    return min((num + 1).bit_length() - 1, 15)


class NaiveMemtis(_Base):
    """memtis (memtier.simulation.policies.memtis).  LRU lists are Python lists, oldest (tail) first."""

    FAST_ACTIVE, FAST_INACTIVE, SLOW_ACTIVE, SLOW_INACTIVE = range(4)

    def __init__(self, p, fast_capacity, slow_capacity, **common):
        super().__init__(fast_capacity, slow_capacity, **common)
        (load, store, thres_hot, self.cooling_period, self.adaptation_period, self.cool_alloc, self.promo_ns,
         self.demo_ns, self.nowarm, self.demo_wm, self.promo_wm, self.direct_extra, self.increment,
         self.sample_ns) = p
        self.thres_hot = int(thres_hot)
        self.demo_wm, self.promo_wm, self.direct_extra = int(self.demo_wm), int(self.promo_wm), int(self.direct_extra)
        self.cool_alloc = int(self.cool_alloc)
        self.periods = [int(load), int(load), int(store)]  # slow loads, fast loads, stores
        self.left = list(self.periods)
        self.lists = [[], [], [], []]  # node * 2 + inactive
        self.total, self.page_clock = {}, {}
        self.hg = [0] * 16
        self.clock = self.nr_sampled = self.nr_alloc = 0
        self.active_t = self.warm_t = self.thres_hot
        self.cooled = False
        self.need_cool, self.need_adj = [False, False], [False, False]
        self.need_demotion = False
        self.next_demotion, self.next_promotion = self.demo_ns, self.promo_ns

    def where(self, page):
        return next(i for i, pages in enumerate(self.lists) if page in pages)

    def to_list(self, page, lst):
        if self.where(page) != lst:
            self.lists[self.where(page)].remove(page)
            self.lists[lst].append(page)

    def idx(self, page):
        return _get_idx(self.total[page])

    def sample(self, page):
        if self.clock > self.page_clock[page]:
            self.total[page] >>= min(self.clock - self.page_clock[page], 63)
            self.hg[self.idx(page)] += 1
        self.page_clock[page] = self.clock
        prev = self.idx(page)
        self.total[page] += int(self.increment)
        cur = self.idx(page)
        if prev != cur:
            if self.hg[prev] > 0:
                self.hg[prev] -= 1
            self.hg[cur] += 1
        node = self.node[page]
        if cur >= self.active_t:
            self.to_list(page, 2 * node)
        elif self.where(page) == 2 * node:
            self.to_list(page, 2 * node + 1)
        self.nr_sampled += 1
        usage = len(self.node)
        cooling = self.nr_sampled % int(self.cooling_period) == 0
        if not cooling and self.nr_alloc + self.cool_alloc <= usage:
            self.nr_alloc = usage
            cooling = True
        if cooling:
            self.clock += 1
            if not any(self.need_cool):
                self.hg = [0] * 16
                self.cooled = True
                self.need_cool = [True, True]
        elif self.nr_sampled % int(self.adaptation_period) == 0:
            self.adjust_threshold()

    def adjust_threshold(self):
        room = self.capacity - self.promo_wm
        nr_active, idx_hot = 0, 15
        while idx_hot >= 0 and nr_active + self.hg[idx_hot] <= room:
            nr_active += self.hg[idx_hot]
            idx_hot -= 1
        if idx_hot != 15:
            idx_hot += 1
        need_warm = nr_active < room * 75 // 100
        idx_hot = max(idx_hot, self.thres_hot)
        if self.cooled:
            if idx_hot < self.active_t and self.active_t > 1:
                self.active_t -= 1
            self.cooled = False
            self.need_adj = [True, True]
        elif idx_hot > self.active_t:
            self.active_t = idx_hot
            self.need_adj = [True, True]
        self.warm_t = self.active_t - 1 if (not self.nowarm and need_warm) else self.active_t

    @staticmethod
    def scan_limit(count):
        return count if count < 8 else min(count, 12 * (count >> 3))

    def lists_work(self, node):
        if self.need_cool[node]:
            for lst in (2 * node, 2 * node + 1):
                for page in self.lists[lst][:self.scan_limit(len(self.lists[lst]))]:
                    if self.clock > self.page_clock[page]:
                        self.total[page] >>= min(self.clock - self.page_clock[page], 63)
                        self.hg[self.idx(page)] += 1
                        self.page_clock[page] = self.clock
                        self.to_list(page, 2 * node + (0 if self.idx(page) >= self.active_t - 1 else 1))
            self.need_cool[node] = False
        elif self.need_adj[node]:
            done = True
            for lst in (2 * node, 2 * node + 1):
                limit = self.scan_limit(len(self.lists[lst]))
                done = done and limit >= len(self.lists[lst])
                for page in self.lists[lst][:limit]:
                    self.to_list(page, 2 * node + (0 if self.idx(page) >= self.active_t else 1))
            if done:
                self.need_adj[node] = False

    def demote_batch(self, scan, lst):
        taken = self.lists[lst][:scan]
        del self.lists[lst][:scan]
        demoted = 0
        for page in taken:
            if self.idx(page) < self.warm_t and self.slow_used < self.slow_capacity:
                self.move(page, False)
                self.lists[self.SLOW_ACTIVE if lst == self.FAST_ACTIVE else self.SLOW_INACTIVE].append(page)
                demoted += 1
            else:
                self.lists[lst].append(page)
        if demoted:
            self.migration(_calls_cost(demoted, self.batch, self.cost))
        return demoted

    def demotion_pass(self):
        self.lists_work(0)
        cap, used, promo_wm = self.capacity, self.fast_used, self.promo_wm
        direct = self.need_demotion
        exceeded = 0
        if direct and used + promo_wm > cap:
            exceeded = (promo_wm - (cap - used) if used < cap else used + promo_wm - cap) + self.direct_extra
        else:
            waiting = len(self.lists[self.SLOW_ACTIVE])
            if waiting:
                if used + waiting + promo_wm > cap:
                    exceeded = used + waiting + promo_wm - cap
            elif used + self.demo_wm > cap:
                exceeded = used + promo_wm - cap
        if exceeded > 0:
            shrink_active = exceeded > len(self.lists[self.FAST_INACTIVE]) and direct
            reclaimed = 0
            for priority in range(12, 0, -1):
                to_reclaim, got = exceeded - reclaimed, 0
                for lst in ([self.FAST_INACTIVE, self.FAST_ACTIVE] if shrink_active else [self.FAST_INACTIVE]):
                    nr_to_scan = len(self.lists[lst]) >> priority
                    if nr_to_scan < to_reclaim:
                        nr_to_scan = to_reclaim * 11 // 10
                    while nr_to_scan > 0:
                        scan = min(nr_to_scan, SWAP_CLUSTER_MAX)
                        got += self.demote_batch(scan, lst)
                        nr_to_scan -= scan
                        if got >= to_reclaim:
                            break
                    if got >= to_reclaim:
                        break
                reclaimed += got
                if reclaimed >= exceeded:
                    break
            if not self.nowarm:
                waiting = min(len(self.lists[self.SLOW_ACTIVE]), exceeded)
                if waiting and reclaimed < waiting:
                    self.warm_t = self.active_t
        if self.fast_used + self.demo_wm < cap:
            self.need_demotion = False

    def promotion_pass(self):
        self.lists_work(1)
        candidates = self.lists[self.SLOW_ACTIVE]
        room = self.capacity - self.promo_wm - self.fast_used
        if not candidates or room <= 0:
            return
        n = min(room, len(candidates))
        promoted = 0
        for priority in range(12, 0, -1):
            moved = 0
            for _ in range(n >> priority):
                if not candidates or self.fast_used >= self.capacity:
                    break
                page = candidates.pop(0)
                self.move(page, True)
                self.lists[self.FAST_ACTIVE].append(page)
                moved += 1
            if moved:
                self.migration(_calls_cost(moved, self.batch, self.cost))
            promoted += moved
            if promoted >= n:
                break

    def run(self, trace, writes=None):
        for j, page in enumerate(trace):
            page = int(page)
            self.row = self.record.new()
            if page not in self.node:
                used = self.fast_used
                fast = used + 1 < self.capacity or (self.slow_used >= self.slow_capacity and used < self.capacity)
                wake = not fast or self.capacity <= used + self.demo_wm
                self.node[page] = 0 if fast else 1
                self.total[page] = 1 << (self.active_t + 1)
                self.page_clock[page] = self.clock + 1
                self.lists[self.FAST_INACTIVE if fast else self.SLOW_INACTIVE].append(page)
                if wake and not self.need_demotion:
                    self.need_demotion = True
                    self.demotion_pass()
                    self.next_demotion = self.now + self.demo_ns
                elif wake:
                    self.need_demotion = True
            self.serve(page)
            event = 2 if writes is not None and writes[j] else (1 if self.node[page] == 0 else 0)
            self.left[event] -= 1
            if self.left[event] == 0:
                self.left[event] = self.periods[event]
                self.overhead(self.sample_ns, 1)
                self.sample(page)
            if self.now >= self.next_demotion:
                self.demotion_pass()
                self.next_demotion = self.now + self.demo_ns
            if self.now >= self.next_promotion:
                self.promotion_pass()
                self.next_promotion = self.now + self.promo_ns
        return self.record.rows


class NaiveBitHistory(_Base):
    """bit-history (memtier.simulation.policies.bit_history)."""

    def __init__(self, p, fast_capacity, slow_capacity, **common):
        super().__init__(fast_capacity, slow_capacity, **common)
        bits, self.period_ns, hot, cold, rank, self.pte_ns = p
        self.bits, self.hot, self.cold, self.rank = int(bits), int(hot), int(cold), bool(rank)
        self.history = {}
        self.accessed = set()
        self.next_scan = self.period_ns

    def score(self, page):
        return bin(self.history[page]).count("1")

    def key(self, page):
        return 2 * self.score(page) + (self.history[page] & 1)

    def move(self, page, to_fast):
        super().move(page, to_fast)
        self.accessed.discard(page)

    def scan(self):
        mask = (1 << self.bits) - 1
        for page in self.node:
            self.history[page] = ((self.history[page] << 1) | (page in self.accessed)) & mask
        self.accessed.clear()
        self.overhead(len(self.node) * self.pte_ns, len(self.node))
        fast = sorted((p for p, n in self.node.items() if n == 0), key=lambda p: (self.key(p), p))
        slow = sorted((p for p, n in self.node.items() if n == 1), key=lambda p: (-self.key(p), p))
        demoted = promoted = 0
        if not self.rank:
            for page in fast:
                if self.score(page) > self.cold or self.slow_used >= self.slow_capacity:
                    break
                self.move(page, False)
                demoted += 1
            for page in slow:
                if self.score(page) < self.hot or self.fast_used >= self.capacity:
                    break
                self.move(page, True)
                promoted += 1
        else:
            s = 0
            while s < len(slow) and self.score(slow[s]) >= 1 and self.fast_used < self.capacity:
                self.move(slow[s], True)
                promoted += 1
                s += 1
            f = 0
            while s < len(slow) and f < len(fast) and self.score(slow[s]) > self.score(fast[f]):
                self.move(fast[f], False)
                self.move(slow[s], True)
                demoted += 1
                promoted += 1
                s += 1
                f += 1
        if demoted:
            self.migration(_calls_cost(demoted, self.batch, self.cost))
        if promoted:
            self.migration(_calls_cost(promoted, self.batch, self.cost))

    def run(self, trace):
        for page in trace:
            page = int(page)
            self.row = self.record.new()
            if page not in self.node:
                fast = self.fast_used < self.capacity or self.slow_used >= self.slow_capacity
                self.node[page] = 0 if fast else 1
                self.history[page] = (1 << self.bits) - 1
            self.serve(page)
            self.accessed.add(page)
            if self.now >= self.next_scan:
                self.scan()
                self.next_scan = self.now + self.period_ns
        return self.record.rows
