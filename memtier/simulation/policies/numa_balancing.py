"""``numa-balancing`` and ``tpp``: Linux memory tiering by NUMA hint faults.

What is modelled, each rule with its source (Linux 6.0/6.1 unless said; ``fair.c`` is
``kernel/sched/fair.c``):

- **Scanning** (``task_numa_work``).  Every scan period the scanner makes the next
  ``scan_size_mb`` of the address space ``PROT_NONE`` (``change_prot_numa``), from where the
  last scan stopped (``mm->numa_scan_offset``; back to 0 after the last page).  In tiering
  mode (``numa_balancing=2``) pages on the fast node are skipped (``change_pte_range``:
  ``!(mode & NUMA_BALANCING_NORMAL) && node_is_toptier(nid)``), pages already ``PROT_NONE``
  too, and each page armed records the scan time (``xchg_page_access_time``).  A range
  counts against ``scan_size`` only if it armed a page (``if (nr_pte_updates) pages -=
  ...``), and at most 8x ``scan_size`` of address space is walked (``virtpages``).
  The scan period (``numa_scan_period``) starts at ``scan_delay_ms`` (1000 ms,
  ``init_numa_balancing``) and changes in ``update_task_scan_period``, which
  ``task_numa_placement`` runs at the first recorded fault after each full pass of the
  scanner (``numa_scan_seq``).  In tiering mode only a fault that promoted its page is
  recorded (``task_numa_fault`` returns early for a page left on the slow node, and fast
  pages are not armed), and it is *remote*: ``TNF_FAULT_LOCAL`` is set when the page's node
  at the fault is the CPU's, and it was the slow node.  ``update_task_scan_period`` tests
  ``local + shared == 0`` (``numa_faults_locality[1]`` and shared faults: none for one task's
  promotions), so it doubles the period, up to ``task_scan_max``, and sets the next scan a
  period from now (``mm->numa_next_scan``) (``placement_doubles``; 0: the earlier rule, the
  ``+30 %`` of three slots of a tenth that local faults would give, within ``[task_scan_min,
  task_scan_max]``).  A trace of the kernel-check guest shows it: the scan after the first
  promotions came twice the period later (``data/kernel_check/scan_trace.txt``).  The
  shortest is ``max(1000 ms x scan_size / 2560 MB (MAX_SCAN_WINDOW), scan_period_min_ms /
  windows)``, the longest ``scan_period_max_ms / windows``, with ``windows`` the resident
  set in ``scan_size`` pieces (``task_nr_scan_windows``).  (The kernel rounds a tenth of the
  period up to whole milliseconds, which matters only under 100 ms; the simulation does not.)
  After each scan the next one also waits 32 times what the scan took (``task_numa_work``
  ends with ``p->node_stamp += 32 * diff``, diff its CPU time, "to limit NUMA PTE scanning
  overhead to 3%": ``task_tick_numa`` queues the next scan only once the task's run time
  passes ``node_stamp`` plus the period), ``scan_overhead_limit``; the scan's time is
  ``scan_pte_ns`` a present page walked, ``scan_fast_ns`` more a page walked on the fast node
  (``change_pte_range`` looks it up, ``vm_normal_page`` and ``page_to_nid``, before passing it
  over; a ``PROT_NONE`` PTE is passed over at once; 0 by default, the earlier model) and
  ``scan_arm_ns`` more a page armed, charged to the run unless ``scan_cost_charged`` is 0.  The scanner's timer is the task's run time
  (``task_tick_numa``: ``se.sum_exec_runtime``): with ``kswapd_shares_cpu`` kswapd runs on the
  task's CPU and the CPU time it takes (``kswapd_cpu_pages_per_s`` demoted,
  ``kswapd_cpu_scan_pages_per_s`` kept) moves the next scan back by as much.
  6.1 measures the scan's time by the task's run time (``diff = p->se.sum_exec_runtime -
  runtime``), which ``update_curr`` brings up to date only at the scheduler's tick while the task
  runs on; the scan starts right after the tick that queued it, so it counts as the whole ticks
  within it, nothing for a scan shorter than a tick (``scan_time_ticks``, off by default: 4 ms at
  ``sched_tick_hz`` 250; the kernel-check guest's trace shows it, ``docs/kernel-check.md``;
  kernel-check gives it since 2026-11-27, with the scan's time traced in its guest: with the
  earlier scan times, a tick off here and there, it made most committed comparisons worse).
  6.1 has two gates on the next scan (``scan_tick_gate``, off by default): ``task_tick_numa``
  queues ``task_numa_work`` when the task's run time passes ``node_stamp`` plus the period, and
  moves ``node_stamp`` on by the period whether or not it queues it, which it does only once
  ``jiffies`` reach ``mm->numa_next_scan``; ``task_numa_work`` sets ``numa_next_scan`` to now
  plus the period and adds ``2 * TICK_NSEC`` and 32 times the scan's time to ``node_stamp``.
  So the period a placement doubles counts from ``node_stamp``, not from the fault, and when
  the new ``numa_next_scan`` (the fault plus that period) comes after the run-time gate, that
  window is lost and the scan comes a period later again.  Without it (the earlier rule) the
  next scan is a period plus 32 times the scan's time after it, or the new period after the
  promoting fault that doubled it: a scan early by 2 ticks, by 32 times the scan's time, and
  by kswapd's CPU time between the scan and the fault.
  Two departures by default, each a named parameter to remove it: in 6.1 the first tick of
  ``task_tick_numa`` sets the period to ``task_scan_start`` (the shortest, above) rather than
  keeping ``scan_delay_ms`` (``first_period_ms``), and a program just ``exec()``-ed scans
  first at twice the scan delay, its new mm's ``numa_next_scan`` being 0 (``first_scan_ms``);
  ``memtier.kernel_check.scan_start`` computes both.  Neither is scaled by ``time_scaled``.
- **Hint faults** (``do_numa_page``).  An access to an armed page faults (charged
  ``hint_fault_ns``), the page is unarmed, and ``should_numa_migrate_memory`` decides:
  promote at once if the fast node has room above its promotion watermark plus
  ``max(1 GiB, node size / 16)`` (``pgdat_free_space_enough``; then the adapted threshold
  is reset); otherwise only if the hint-fault latency (now minus the scan time,
  ``numa_hint_fault_latency``) is under the hot threshold (``hot_threshold_ms``, 1000 ms)
  and the promotion rate limit (``promote_rate_limit_mbps``, 65536 MB/s; candidates counted
  per second, ``numa_promotion_rate_limit``) allows.  Every ``scan_period_max_ms`` (60 s)
  the threshold moves by a sixteenth of twice its default towards the rate limit's
  number of candidates (``numa_promotion_adjust_threshold``, Huang Ying, "memory
  tiering: adjust hot threshold automatically", 2022); the first move comes at the first
  fault with ``threshold_adjusts_at_once`` (6.1's clock starts 300 s before boot while the
  window's start is 0: 1125 ms from then on with the defaults), else a period into the run.  The move itself
  (``numamigrate_isolate_page``) needs the fast node above its high watermark plus the
  page (``migrate_balanced_pgdat``); if it is not, kswapd is woken and the page stays.
  The fault and the move are the faulting task's own work (``do_numa_page`` calls
  ``migrate_misplaced_page``, ``mm/migrate.c``, before it returns): a promotion charges the
  cost model's migration call and ``promote_ns`` more, on the task's clock.  A task with time
  to spare between its accesses (``access_slack_ns``: kernel-check's workload spins to a fixed
  schedule) pays charged work back: each access takes that much less until the clock is back
  on the accesses' own time.
- **Allocation** (``__alloc_pages`` -> ``get_page_from_freelist``, ``mm/page_alloc.c``).  A
  page is allocated at its first access.  The fast path asks the zones of the zonelist, node
  0's then node 1's, for free pages above their *low* watermark (``alloc_flags =
  ALLOC_WMARK_LOW``, ``zone_watermark_fast``) and takes the first that has them: while the
  fast node's free pages are above ``low`` the page goes there, else to the slow node, and
  nothing is woken (``fast_path_fallback``).  Only when no zone passes does
  ``__alloc_pages_slowpath`` run: ``wake_all_kswapds`` (``ALLOC_KSWAPD``), then
  ``ALLOC_WMARK_MIN``; with the slow node at its limit memtier takes a free fast page below
  the watermarks (the kernel would reclaim directly or dip into its reserves; limits make a
  free page exist).  Who wakes kswapd, then, while the slow node has room?  Allocations that
  cannot use it: memory onlined by dax/kmem (the kernel-check guest's node 1) is
  ``ZONE_MOVABLE``, and a page-table page is ``GFP_KERNEL`` (``__pte_alloc``), so the first
  touch of each new 2 MB of address space allocates one that, with node 0 at its low
  watermark, finds no zone and wakes kswapd (``pgtable_wakes_kswapd``; 6.1's fast path wakes
  kswapd only for a boosted watermark, in ``rmqueue`` after a fragmenting fallback, not
  modelled).  A failed promotion wakes it too (``numamigrate_isolate_page``, above).
  ``pgtable_pages`` also takes the page table's page from the fast node (the zonelist at low,
  else at min: ``ALLOC_WMARK_MIN``), and ``direct_reclaim`` makes a table that finds no zone above
  min reclaim in the task first (**Direct reclaim**, below); both 0 by default.  New
  anonymous pages join the inactive list (``lru_cache_add_inactive_or_unevictable``, since
  5.9).  The earlier rule, ``fast_path_fallback=0`` and ``pgtable_wakes_kswapd=0``: every
  allocation at or below ``low`` wakes kswapd, and the page takes the fast node down to
  ``min``.
- **Demotion** (``kswapd`` -> ``balance_pgdat`` -> ``kswapd_shrink_node`` -> ``shrink_node``,
  ``mm/vmscan.c``).  Once woken (``wakeup_kswapd``: not if the node is already balanced),
  kswapd works until the fast node's free pages exceed the promotion watermark (6.1:
  ``pgdat_balanced`` uses ``WMARK_PROMO`` in tiering mode), in 6.1's ``balance_pgdat`` passes
  of falling priority (``kswapd_priority``, the default since 2026-11-26): from
  ``DEF_PRIORITY`` 12, each pass takes ``(inactive >> priority) x swappiness / 200`` pages of
  the inactive list (``get_scan_count``; all of ``inactive >> priority`` when
  ``file_is_tiny``) in rounds of ``SWAP_CLUSTER_MAX`` with as many active pages while
  ``inactive_is_low`` (``shrink_lruvec``), ended early at ``nr_to_reclaim`` demoted (the
  zones' high watermarks, at least 32 each: ``kswapd_shrink_node``), the balance checked
  between passes, the priority lowered after a pass short of ``nr_to_reclaim`` or without a
  demotion, a run ended below priority 1 (a ``kswapd_failure`` if it demoted nothing; at
  ``MAX_RECLAIM_RETRIES``, 16, kswapd leaves the node for good unless ``direct_reclaim`` demotes
  a page, which revives it) and another begun unless the node is balanced.  In each round a page off the
  inactive tail whose accessed bit is set is activated only if it has ``PG_referenced``, else
  kept at the inactive head and given the bit (6.1's ``folio_check_references``, "look twice",
  for anonymous pages since 5.9: ``referenced_kept_once``, the default since 2026-11-26; 0
  activates it at once, the rule before 5.9), an unreferenced one demoted
  (``demote_page_list``, one migration call a round).  Every page scanned costs an rmap walk (``rmap_ns``).
  ``kswapd_priority=0`` gives memtier's earlier simplification: rounds of ``SWAP_CLUSTER_MAX``
  (the inactive list refilled from the active one while ``inactive_is_low``), the balance
  checked after each, until the lists were scanned twice over since the wake.
  kswapd is a thread of its own, beside the task: it keeps a clock of its own, and a round
  done at its time moves it on by ``1 / kswapd_pages_per_s`` a page demoted and
  ``1 / kswapd_scan_pages_per_s`` a page scanned and kept (both 0: at once, the earlier
  simplification, where the task waited for the whole balancing).  The task's clock does not
  wait: the rounds due are done whenever the run reaches an event (an allocation, a hint
  fault, a scan, the end of a period) or kswapd's next round.  Defaults: kswapd's pace in
  the kernel-check guest (6.1 on one emulated vCPU at one instruction a ns, ``-icount``)
  during a 600 MB fill, per second of kswapd's own CPU time (the guest's time less the
  task's): 91 000 pages demoted and 711 000 scanned and kept (its first pass over a freshly
  written inactive list, where every page is young) a second
  (``memtier.kernel_check.fill_rates`` on ``data/kernel_check/fill_kernel_raw.csv``; the kept
  pace was 870 000 until 2026-11-26, when ``fill_rates`` put a third of the first pass's time
  before kswapd's wake: ``docs/kernel-check.md``).  A
  real CPU runs a few instructions a ns, so a kswapd with a CPU of its own is a few times
  faster: give yours.  The slow node is the last tier: without swap its pages are never
  reclaimed.
- **Direct reclaim** (``direct_reclaim``, with ``pgtable_pages``; ``__alloc_pages_direct_reclaim``
  -> ``try_to_free_pages`` -> ``do_try_to_free_pages``, ``mm/page_alloc.c``, ``mm/vmscan.c``).
  The allocating task reclaims the fast node itself: ``nr_to_reclaim`` ``SWAP_CLUSTER_MAX``,
  priorities 12 down to 0, at each a ``shrink_node`` with ``get_scan_count``'s targets for a
  fresh ``scan_control`` (as kswapd's passes; ``SCAN_EQUAL``, the whole lists, at 0) in rounds
  of 32 with ``folio_check_references``' rules, the whole target at ``DEF_PRIORITY``
  (``proportional_reclaim``) and below it up to the round that brings the priority's demotions
  to 32; done at 32 in all; a call that demotes resets ``kswapd_failures``.  Its pages go on the
  task's clock at ``kswapd_cpu_pages_per_s`` and ``kswapd_cpu_scan_pages_per_s`` (the same
  ``shrink_folio_list`` on the task's CPU).  In the kernel-check guest it acts only after a
  watermark boost (not modelled): memtier's page tables alone never take the fast node from its
  low watermark to min (``docs/kernel-check.md``).
- **Zones** (``low_zone_pages``; 0, the default, takes the fast node as one zone).  6.1
  checks watermarks zone by zone, and a small node has two: node 0 of the kernel-check guest
  is ZONE_DMA (16 MB) below ZONE_DMA32.  The allocator walks the zonelist, the main zone
  first, and takes a zone above its low watermark plus its ``lowmem_reserve`` for a user page
  (``low_zone_protection_pages``; ``get_page_from_freelist``); kswapd is done, and is not
  woken, as soon as *either* zone is above its promo watermark (``pgdat_balanced``: "Returns
  true if there is an eligible zone balanced", checked bottom-up; ``wakeup_kswapd``); a
  promotion needs either zone above its high watermark plus the page
  (``migrate_balanced_pgdat``) and takes its page from the zonelist.  A page remembers its
  zone (``referenced``'s ``IN_LOW_ZONE`` bit) and gives its zone the page back when demoted.
  So once kswapd has freed a round of the low zone's pages the node counts as balanced, with
  the main zone still at its low watermark: in the guest, kswapd's second pass over a long
  fill stops at the few thousand pages the fill put in ZONE_DMA, woken by each new page
  table for one round of about ten of them (``data/kernel_check/hot_set_1000mb_vmscan_trace.txt.gz``).
- **One CPU** (``kswapd_cpu_share``; 0, the default: kswapd's pace on the clock is
  ``kswapd_pages_per_s``).  With kswapd and the task on one CPU, CFS gives the two runnable
  tasks (nice 0, equal weight) equal shares (``kernel/sched/fair.c``): while kswapd is awake
  it works at ``kswapd_cpu_pages_per_s`` and ``kswapd_cpu_scan_pages_per_s`` times its share,
  the task's charged work (``first_touch_ns`` a first touch: ``do_anonymous_page``; hint
  faults, promotions) takes ``1 / (1 - share)`` as long on the clock, and kswapd checks
  ``pgdat_balanced`` right after its round, before the task runs again (``balance_pgdat``
  after ``kswapd_shrink_node``), so what a round frees is not taken back by allocations
  first.  The guest shows kswapd's pace on guest time: about 44 000 pages demoted and
  300 000 kept a second while the task runs (the trace above), where a pace per page
  allocated (``kswapd_pages_per_s`` from ``memtier.kernel_check.fill_rates``) holds only while
  the fill lags: after it, on the workload's own clock, kswapd ran 3-5 times too fast.
  Departures: a charge is stretched when kswapd is awake at its end; an access's own time
  (28 ns in the guest) is not.  Only the task's own work is stretched: kswapd's rounds that
  an event runs (charged to the run by the simplification below) are kswapd's time, not the
  task's (the twin in the tests found the stretch taking them in, and a round stretched or not
  by whether it fell at an event or between them).
- **One CPU by the scheduler's slices** (``kswapd_cpu_slices``, off by default; with
  ``kswapd_priority``, in place of ``kswapd_cpu_share``).  6.1's CFS on one CPU
  (``kernel/sched/fair.c``; one CPU: ``sysctl_sched_latency`` 6 ms, ``sysctl_sched_min_granularity``
  0.75 ms, ``sysctl_sched_wakeup_granularity`` 1 ms, ``sched_slice`` 3 ms for two nice-0 tasks, a
  tick every 4 ms at Debian's ``CONFIG_HZ=250``, ``sched_tick_hz``): the CPU is kswapd's or the
  task's, never both, and while kswapd holds it the clock runs on and the task allocates nothing.
  A woken kswapd (``wakeup_kswapd``, as above) is placed at most 3 ms of vruntime behind the task
  (``place_entity``, ``GENTLE_FAIR_SLEEPERS``: half of ``sched_latency``) and preempts it when more
  than the wakeup granularity behind (``check_preempt_wakeup``), when the waking fault returns; at
  each tick ``check_preempt_tick`` reschedules the one on the CPU once it has run its slice (or,
  past the minimum granularity, is a slice ahead of the other), and the one of lower vruntime runs
  (``pick_next_entity``).  On the CPU kswapd does ``balance_pgdat``'s passes at its CPU paces
  (``kswapd_cpu_pages_per_s``, ``kswapd_cpu_scan_pages_per_s``), checks ``pgdat_balanced`` between
  them and sleeps when balanced (``kswapd_try_to_sleep``) until woken again; the scanner's timer,
  the task's run time, is held back by kswapd's time.  Departure: a tick that falls inside a round
  of ``SWAP_CLUSTER_MAX`` takes effect at the round's end.  Tested against its twin; measured
  against the kernel-check guest in ``docs/kernel-check.md`` ('The scheduler's slices'), not
  kernel-check's default.
- **Per-CPU page lists** (``pcp_high_pages``, off by default; ``pcp_batch_pages``): 6.1's list of
  the main zone on the one CPU (``free_unref_page_commit``, ``nr_pcp_high``, ``nr_pcp_free``,
  ``free_pcppages_bulk``, ``rmqueue_pcplist``, ``rmqueue_bulk``, ``mm/page_alloc.c``): a demoted
  page's frame goes on the list, not counted free by the watermark tests, until the list reaches
  ``high`` (``min(batch << 2, high)`` while kswapd's ``balance_pgdat`` runs,
  ``ZONE_RECLAIM_ACTIVE``) and a bulk free gives some back; allocations of the main zone take their
  page off the list (movable: user pages; unmovable: page tables), refilled ``batch`` at a time.
- **Watermarks** (``__setup_per_zone_wmarks``): the fast node's share of
  ``min_free_kbytes`` (by default the kernel's ``int_sqrt(16 x memory in KB)``, clamped to
  128 KB - 256 MB) is ``min``; ``low``, ``high`` and ``promo`` are ``min`` plus 1, 2 and 3
  times ``max(min / 4, pages x watermark_scale_factor / 10000)`` (default 10).

``tpp`` (Maruf et al., "TPP: Transparent Page Placement for CXL-Enabled Tiered-Memory",
ASPLOS'23, section 5): the same, with the paper's two changes to promotion and demotion:

- promote only active pages: a hint fault on an inactive slow page calls
  ``mark_page_accessed`` instead (inactive unreferenced -> referenced -> active), so a
  page is promoted at its third hint fault at the earliest (TPP's ``do_numa_page`` patch);
- decoupled watermarks: kswapd is woken when the fast node's free pages fall below the
  demotion watermark, ``high + pages x demote_scale_factor / 10000`` (default 200, 2 %),
  and demotes until they are above it, while allocations still take the fast node down to
  its low watermark.  The allocation that finds the fast node under the demotion watermark
  wakes kswapd (``pgtable_wakes_kswapd`` does not apply).

Simplifications, stated: kswapd's work is charged to the run (like the list policies'
reclaim) though it runs beside the task; one zone per node (unless ``low_zone_pages``); no watermark
boosting (``boost_watermark`` after a fragmenting fallback: memtier has no pageblocks or
migratetypes to say when one happens); no per-CPU page lists unless ``pcp_high_pages`` (``pcp``: pages counted free at
once); one task, so no ``cpupid`` two-stage
filter (bypassed for slow pages in tiering mode anyway) and no shared faults; time is whole
milliseconds (``jiffies_to_msecs``).

Costs (estimates, not measurements; pass measured values):

- ``hint_fault_ns`` = 1000 ns: a NUMA hint fault is a minor page fault (exception entry and
  exit, ``handle_mm_fault``, the page-table lock, restoring the PTE, a TLB entry) with no
  I/O and, when not migrating, no copy; minor faults cost about 0.5-2 us on servers of
  the period.
- ``scan_pte_ns`` = 50 ns per present page walked: ``change_pte_range`` reads each PTE
  (sequential, cheap), but in tiering mode looks at the page's ``struct page`` to find its
  node (``page_to_nid``), about one cache miss per page.
"""
import math

import numpy as np

from ..._jit import njit, njit_borrow, njit_inline, prefetch
from .active_shrink import (
    ACCESSED, ACTIVE, FAST, FAST_ACTIVE, FAST_INACTIVE, F_FAST_NS, F_RMAP_NS, F_SLOW_NS, F_UNIT_FAST, F_UNIT_SLOW,
    K_BATCH_PAGES, K_FAST_CAPACITY, K_PAGE_BYTES, K_SLOW_CAPACITY, M_LENGTH, M_SIZE, M_START, M_TAIL, PRESENT,
    S_DISTINCT, S_FAST_USED, S_SLOW_USED, S_TOUCHED, SWAP_CLUSTER_MAX, ring_ahead, calls_cost_us,
    lru_inactive_is_low, pop_tail, push_head, shrink_active,
)
from ._driver import (
    FS_NOW_NS, FS_REMAINING, SERVE_AHEAD, charge_migration, charge_overhead, end_period, allocate_first_touch,
    flush_loop_state, move_page, serve_until,
)

NAMES = ("numa-balancing", "tpp")

#: Parameters, their defaults and where they come from.
PARAMETERS = {
    "scan_delay_ms": (1000.0, "numa_balancing_scan_delay_ms: the first scan, and the first scan period"),
    "scan_period_min_ms": (1000.0, "numa_balancing_scan_period_min_ms: the shortest full pass"),
    "scan_size_mb": (256.0, "numa_balancing_scan_size_mb: address space armed per scan"),
    "scan_period_max_ms": (60000.0, "numa_balancing_scan_period_max_ms: the longest full pass, and the hot "
                                    "threshold's adjustment interval"),
    "max_scan_window_mbps": (2560.0, "MAX_SCAN_WINDOW (fair.c): the scanner covers at most this many MB a second"),
    "hot_threshold_ms": (1000.0, "numa_balancing_hot_threshold_ms: hint-fault latency under which a page is hot"),
    "promote_rate_limit_mbps": (65536.0, "numa_balancing_promote_rate_limit_MBps"),
    "watermark_scale_factor": (10.0, "vm.watermark_scale_factor, in 1/10000 of the node"),
    "min_free_kbytes": (None, "vm.min_free_kbytes (default: the kernel's int_sqrt(16 x KB of memory))"),
    "wmark_min_pages": (None, "the fast node's min watermark in pages as a kernel reports it "
                              "(/proc/zoneinfo, summed over the node's zones); "
                              "all four or none; default: computed from min_free_kbytes"),
    "wmark_low_pages": (None, "the fast node's low watermark in pages as a kernel reports it "
                              "(/proc/zoneinfo); all four or none; default: computed from min_free_kbytes"),
    "wmark_high_pages": (None, "the fast node's high watermark in pages as a kernel reports it "
                              "(/proc/zoneinfo); all four or none; default: computed from min_free_kbytes"),
    "wmark_promo_pages": (None, "the fast node's promo watermark in pages as a kernel reports it "
                              "(6.1's zoneinfo omits it: high + (high - low), __setup_per_zone_wmarks); "
                              "all four or none; default: computed from min_free_kbytes"),
    "demote_scale_factor": (200.0, "tpp only: vm.demote_scale_factor, in 1/10000 of the node (TPP, 2 %)"),
    "first_scan_ms": (None, "when the first scan runs (default: scan_delay_ms).  6.1, a program just exec()ed: "
                            "2 x scan_delay_ms, because exec's new mm has numa_next_scan = 0, so the first "
                            "task_numa_work (at scan_delay of CPU time, task_tick_numa) only sets it to now + "
                            "scan_delay (memtier.kernel_check.scan_start)"),
    "first_period_ms": (None, "the scan period from the first scan on (default: scan_delay_ms).  6.1: "
                              "task_tick_numa's first tick sets numa_scan_period = task_scan_start(p), i.e. "
                              "task_scan_min: max(1000 ms x scan_size / MAX_SCAN_WINDOW, scan_period_min_ms / "
                              "task_nr_scan_windows) for the resident set then (memtier.kernel_check.scan_start)"),
    "fast_path_fallback": (1.0, "1: 6.1's fast path: a first-touch page goes to the slow node while the fast node's "
                                "free pages are at or below its low watermark (get_page_from_freelist, "
                                "ALLOC_WMARK_LOW, walks the zonelist to node 1); 0: the earlier rule, the fast node "
                                "down to its min watermark (the slow path's ALLOC_WMARK_MIN)"),
    "pgtable_wakes_kswapd": (1.0, "numa-balancing: 1: kswapd is woken by the page-table page of each new 2 MB of "
                                  "address space (GFP_KERNEL, which cannot use the slow node's ZONE_MOVABLE: at or "
                                  "below the low watermark it takes the slow path, wake_all_kswapds), not by the "
                                  "user pages that fall back (6.1's fast path wakes nothing); 0: every first touch "
                                  "at or below the low watermark wakes it (the earlier rule).  tpp: the allocation "
                                  "wakes it at the demotion watermark (TPP's patch), whatever this says"),
    "kswapd_pages_per_s": (91000.0, "pages kswapd demotes a second of the simulated clock once woken, beside the "
                                    "task; 0: at once (the earlier simplification).  Default: 6.1 in the "
                                    "kernel-check guest, kswapd's demotions a second of its own CPU time during a "
                                    "fill (one emulated vCPU, 1 instruction a ns; memtier.kernel_check.fill_rates)"),
    "kswapd_scan_pages_per_s": (711000.0, "pages kswapd scans a second without demoting them (referenced: kept or "
                                          "activated); 0: at once.  Default: as kswapd_pages_per_s, its first pass "
                                          "over a freshly written inactive list"),
    "placement_doubles": (1.0, "1: 6.1 in tiering mode: a promoting hint fault counts as remote (the page was on "
                               "the slow node), so update_task_scan_period finds no local or shared fault and "
                               "doubles the period (up to task_scan_max), the next scan a period from then; 0: "
                               "the earlier rule, +30 % as for local faults"),
    "referenced_kept_once": (1.0, "1 (the default since 2026-11-26): 6.1's folio_check_references (mm/vmscan.c, "
                                  "v6.1: 'we need to look twice if a mapped file/anon folio is used more than once') "
                                  "for an anonymous page kswapd finds referenced on the inactive list: the first time "
                                  "(PG_referenced clear) it is kept there, at the head, with PG_referenced set "
                                  "(FOLIOREF_KEEP: 'spare it for another trip around the inactive list'), and "
                                  "activated only if referenced again by its next trip (FOLIOREF_ACTIVATE); a page not "
                                  "referenced is demoted, its PG_referenced cleared (folio_test_clear_referenced).  "
                                  "Since 5.9: Joonsoo Kim's 'mm/vmscan: protect the workingset on anonymous LRU' "
                                  "(b518154e59aa) removed page_check_references' 'if (PageSwapBacked(page)) return "
                                  "PAGEREF_ACTIVATE'; TPP's patches (do_numa_page, watermarks) leave it as it is, so "
                                  "tpp has it too.  0: activated at once, the rule for swap-backed pages before 5.9 "
                                  "(and memtier's default until 2026-11-26).  PG_referenced is the page's bit that "
                                  "TPP's hint faults set too (mark_page_accessed)"),
    "scan_overhead_limit": (32.0, "task_numa_work (6.1): after a scan the next one waits this many times the "
                                  "scan's own time (p->node_stamp += 32 x its CPU time: 'limit NUMA PTE scanning "
                                  "overhead to 3%'); 0: no wait"),
    "scan_tick_gate": (0.0, "1: 6.1's two gates on the next scan (kernel/sched/fair.c): task_tick_numa queues "
                            "task_numa_work once the task's run time passes node_stamp + numa_scan_period "
                            "(node_stamp += the period then, whether or not the work is queued) and only if "
                            "jiffies >= mm->numa_next_scan; task_numa_work sets numa_next_scan = now + the period "
                            "and adds 2 x TICK_NSEC (sched_tick_hz) and 32 x the scan's time to node_stamp.  So "
                            "a period changed by update_task_scan_period counts from node_stamp, and when its "
                            "numa_next_scan (a doubling: the fault's time + the new period) is later than that, "
                            "the gate's window is lost and the scan comes a period later again.  0: the earlier "
                            "rule: the next scan a period plus 32 x the scan's time after it, or, after a "
                            "doubling, the new period after the promoting fault"),
    "scan_time_ticks": (0.0, "1: the scan's time that scan_overhead_limit multiplies is 6.1's: task_numa_work "
                             "(kernel/sched/fair.c) takes diff = p->se.sum_exec_runtime after the scan less before "
                             "it, and update_curr brings sum_exec_runtime up to date only at the scheduler's tick "
                             "(scheduler_tick -> task_tick_fair -> entity_tick) while the task runs on; the scan runs "
                             "right after the tick whose task_tick_numa queued it (task_work_add(TWA_RESUME), on the "
                             "return to user mode), so diff is TICK_NSEC (1 / sched_tick_hz, 4 ms at Debian's "
                             "CONFIG_HZ=250) times the ticks within the scan: floor(scan / tick) ticks, and nothing "
                             "for a scan shorter than a tick.  The kernel-check guest's trace shows it "
                             "(data/kernel_check/scan_trace.txt: scans of 13.2, 8.2 and 3.9 ms, each starting on the "
                             "4 ms tick grid, were followed 392, 264 and 12 ms after the period, i.e. 2 ticks plus 32 "
                             "x 12, 8 and 0 ms, where 32 x the scan's time gives 430, 271 and 133).  0: 32 x the "
                             "scan's time (the earlier rule, the mean over where the ticks fall)"),
    "threshold_adjusts_at_once": (0.0, "1: 6.1's first numa_promotion_adjust_threshold (kernel/sched/fair.c) "
                                       "adjusts at the first hint fault that reaches it, then every "
                                       "scan_period_max_ms: it tests now - pgdat->nbp_th_start > th_period in unsigned "
                                       "ms, nbp_th_start is 0 from boot and now is jiffies_to_msecs(jiffies), which "
                                       "starts at INITIAL_JIFFIES (-300 s, include/linux/jiffies.h), so in a machine up "
                                       "less than 300 s (or more than 360 s) the window is over at once; with no "
                                       "candidates counted yet the threshold rises by 2 x hot_threshold_ms / 16 (1125 ms "
                                       "from 1000).  0: the first adjustment scan_period_max_ms into the run (the "
                                       "earlier rule)"),
    "scan_cost_charged": (1.0, "1: a scan's cost (scan_pte_ns a page walked) is charged to the run's clock; 0: "
                               "not (kernel-check: the guest pays it out of its slots' slack), though it still "
                               "sets scan_overhead_limit's wait"),
    "kswapd_shares_cpu": (0.0, "1: kswapd runs on the task's CPU, so the CPU time it takes delays the scanner, "
                               "whose timer is the task's run time (task_tick_numa: se.sum_exec_runtime): each "
                               "round moves the next scan by its pages over kswapd_cpu_pages_per_s and "
                               "kswapd_cpu_scan_pages_per_s (kernel-check: one vCPU); 0: a CPU of its own"),
    "kswapd_cpu_pages_per_s": (91000.0, "kswapd_shares_cpu: pages kswapd demotes a second of its own CPU time "
                                        "(default: the kernel-check guest, as kswapd_pages_per_s)"),
    "kswapd_cpu_scan_pages_per_s": (711000.0, "kswapd_shares_cpu: pages it scans and keeps a second of its CPU "
                                              "time (default: the kernel-check guest)"),
    "kswapd_cpu_share": (0.0, "kswapd and the task on one CPU (CFS, kernel/sched/fair.c: two runnable tasks of "
                              "equal weight, nice 0, get equal shares): while kswapd is awake it takes this share "
                              "of the CPU, so it works at kswapd_cpu_pages_per_s and kswapd_cpu_scan_pages_per_s "
                              "times it (in place of kswapd_pages_per_s and kswapd_scan_pages_per_s), and the "
                              "task's charged work (first touches, hint faults, promotions) takes 1 / (1 - share) "
                              "as long on the clock.  kernel-check: 0.5 (one vCPU; the workload spins, so it is "
                              "always runnable); 0: kswapd's pace as given on the clock (the earlier rule)"),
    "low_zone_pages": (0.0, "the fast node's second, low zone (ZONE_DMA below ZONE_DMA32): its free pages at the "
                            "start, counted in fast_capacity together with the main zone's, less "
                            "low_zone_protection_pages; 0: the node is one zone (the earlier rule).  With it, "
                            "6.1's per-zone rules: an allocation takes the main zone above its low watermark, else "
                            "the low zone above its low watermark plus its protection (get_page_from_freelist, "
                            "zonelist order, lowmem_reserve), else the slow node; kswapd stops as soon as either "
                            "zone is above its promo watermark (pgdat_balanced: 'there is an eligible zone "
                            "balanced', checked bottom-up) and is not woken while one is (wakeup_kswapd); a "
                            "promotion needs either zone above its high watermark plus the page "
                            "(migrate_balanced_pgdat).  wmark_*_pages are then the main zone's.  kernel-check: "
                            "the guest's node 0 DMA zone (/proc/zoneinfo)"),
    "low_zone_protection_pages": (0.0, "the low zone's lowmem_reserve for a user page (zoneinfo 'protection' at "
                                       "ZONE_MOVABLE): free pages an allocation, kswapd's balance and a promotion "
                                       "leave it beside its watermarks"),
    "low_zone_wmark_min_pages": (0.0, "the low zone's min watermark (pages)"),
    "low_zone_wmark_low_pages": (0.0, "the low zone's low watermark (pages)"),
    "low_zone_wmark_high_pages": (0.0, "the low zone's high watermark (pages)"),
    "low_zone_wmark_promo_pages": (0.0, "the low zone's promo watermark (pages; high + (high - low))"),
    "kswapd_priority": (1.0, "1 (the default): 6.1's balance_pgdat (mm/vmscan.c): kswapd works in passes of falling priority, "
                             "from DEF_PRIORITY 12: a pass scans (list >> priority) x swappiness / 200 of the "
                             "inactive list (get_scan_count, SCAN_FRACT with no reclaim cost recorded; all of it, "
                             "SCAN_ANON, when file_is_tiny), SWAP_CLUSTER_MAX at a time with as much of the active "
                             "list when inactive_is_low (shrink_lruvec), and stops early once it has demoted "
                             "nr_to_reclaim (the zones' high watermarks, at least 32 each: kswapd_shrink_node); "
                             "pgdat_balanced is checked between passes; the priority falls after a pass that "
                             "scanned fewer than nr_to_reclaim or demoted nothing; below 1 a balance_pgdat ends "
                             "(one that demoted nothing counts a kswapd_failure; 16, MAX_RECLAIM_RETRIES, and the "
                             "node is hopeless: kswapd sleeps and is not woken again) and, the node not balanced, "
                             "another starts at 12.  0: rounds of SWAP_CLUSTER_MAX with the balance checked after "
                             "each, until the lists were scanned twice over since the wake (memtier's earlier "
                             "simplification, the default until 2026-11-26)"),
    "swappiness": (60.0, "vm.swappiness (default 60): with kswapd_priority, the anonymous lists' share of a pass "
                         "is swappiness / (200) of (list >> priority) (get_scan_count: ap = swappiness, fp = 200 - "
                         "swappiness, anon_cost = file_cost = 0 while nothing is written out or refaults)"),
    "kswapd_cpu_slices": (0.0, "1: kswapd and the task on one CPU by 6.1's CFS rules (kernel/sched/fair.c, one "
                               "CPU) instead of kswapd_cpu_share's fluid share: the CPU is the task's or kswapd's, "
                               "never both, and the clock runs on while kswapd holds it (the task allocates "
                               "nothing then); a woken kswapd is placed at most sched_latency / 2 (3 ms) behind the "
                               "task (place_entity, GENTLE_FAIR_SLEEPERS) and preempts it when more than "
                               "sysctl_sched_wakeup_granularity (1 ms) behind (check_preempt_wakeup), after the "
                               "waking fault; at each tick (sched_tick_hz) the one on the CPU is rescheduled once "
                               "it has run its sched_slice (3 ms: two nice-0 tasks, sched_latency 6 ms) or, past "
                               "sysctl_sched_min_granularity (0.75 ms), is that far ahead (check_preempt_tick), and "
                               "the one of lower vruntime runs (pick_next_entity); kswapd works at "
                               "kswapd_cpu_pages_per_s and kswapd_cpu_scan_pages_per_s, checks pgdat_balanced "
                               "between balance_pgdat's passes and sleeps when balanced (kswapd_try_to_sleep), to "
                               "be woken as before.  Needs kswapd_priority; kswapd_cpu_share must be 0.  "
                               "Departure: a reschedule that falls inside a round of SWAP_CLUSTER_MAX takes effect "
                               "at the round's end.  0: not (kswapd_cpu_share's rule, or a CPU of its own)"),
    "pcp_high_pages": (0.0, "the per-CPU page list of the fast node's main zone (6.1, mm/page_alloc.c; one CPU): its "
                            "pcp->high (zoneinfo's pagesets; the kernel-check guest's DMA32: 298, zone_highsize: "
                            "the low watermark over the node's CPUs).  A page freed (a demotion) goes on the list "
                            "and is not counted free (NR_FREE_PAGES) until free_unref_page_commit finds the list at "
                            "nr_pcp_high (pcp->high, or min(batch << 2, pcp->high) while kswapd's balance_pgdat runs: "
                            "ZONE_RECLAIM_ACTIVE) and free_pcppages_bulk gives nr_pcp_free of them back (batch << "
                            "free_factor within [batch, high - batch], free_factor raised at each such free, halved "
                            "at each allocation from the list); a page allocated there (first touches, promotions: "
                            "the movable list; page tables: the unmovable one) comes off its list, refilled with "
                            "batch pages from the zone when empty (rmqueue_bulk).  The watermark tests see the "
                            "zone's free pages without the list.  0: no list, pages free at once (the earlier "
                            "rule).  The low zone's list (the guest's DMA: high 9, batch 1, at most 4 pages while "
                            "reclaiming) is not modelled"),
    "pcp_batch_pages": (31.0, "pcp_high_pages: the list's pcp->batch (zoneinfo's pagesets; the guest's DMA32: 31, "
                              "zone_batchsize)"),
    "sched_tick_hz": (250.0, "kswapd_cpu_slices: the scheduler's tick (CONFIG_HZ; Debian's 6.1 kernels: 250, a 4 ms "
                             "tick), at which check_preempt_tick runs"),
    "first_touch_ns": (0.0, "the task's time for a first touch beside the access (do_anonymous_page: allocate, "
                            "zero and map the page, mm/memory.c), charged on its clock and paid back by "
                            "access_slack_ns; kernel-check: measured in the guest; 0: free (the earlier rule)"),
    "hint_fault_ns": (1000.0, "cost of one hint fault (estimate, see the module)"),
    "promote_ns": (0.0, "a promotion's time on the faulting task besides hint_fault_ns and the cost model's "
                        "migration call: do_numa_page (mm/memory.c) calls migrate_misplaced_page (mm/migrate.c: "
                        "numamigrate_isolate_page, then migrate_pages, MIGRATE_ASYNC: unmap, copy, remap) within "
                        "the task's own fault, so the task waits for it and its run time, the scanner's timer, "
                        "runs on; 0: the cost model's call only (the earlier rule).  kernel-check: measured in "
                        "the guest.  Not scaled by time_scaled (a migration)"),
    "access_slack_ns": (0.0, "time each access has to spare (at most its latency), which pays back the work "
                             "charged to the task (hint faults, promotions, scans, kswapd's charges): while the "
                             "clock is ahead of the accesses' own time, each access takes this much less, until "
                             "it has caught up.  kernel-check: the workload spins to a fixed schedule, so a "
                             "fault delays its next accesses, not all later ones; 0: every ns charged delays "
                             "every later access (the earlier rule).  Not scaled by time_scaled"),
    "scan_pte_ns": (50.0, "cost of one present page walked by the scanner (estimate, see the module)"),
    "scan_arm_ns": (0.0, "cost of arming one page (making its PTE PROT_NONE) on top of walking it; 0: in "
                         "scan_pte_ns (the earlier estimate); kernel-check: measured in the guest"),
    "scan_fast_ns": (0.0, "cost of walking one present page on the fast node on top of scan_pte_ns "
                          "(change_pte_range: vm_normal_page and page_to_nid for a page that is not PROT_NONE, "
                          "passed over as on the task's node); 0: in scan_pte_ns (the earlier model); "
                          "kernel-check: measured in the guest"),
    "pgtable_pages": (0.0, "1: the page-table page of each new 2 MB of address space (__pte_alloc, mm/memory.c: "
                           "GFP_PGTABLE_USER, i.e. GFP_KERNEL | __GFP_ZERO | __GFP_ACCOUNT) is taken from the fast "
                           "node when the first touch allocates it, from its zones only (GFP_KERNEL's highest zone "
                           "is ZONE_NORMAL; a node onlined by dax/kmem, as the kernel-check guest's node 1, is "
                           "ZONE_MOVABLE): get_page_from_freelist at the low watermark, else __alloc_pages_slowpath "
                           "at the min watermark (ALLOC_WMARK_MIN, after wake_all_kswapds: pgtable_wakes_kswapd), "
                           "else direct_reclaim, else below min (the reserves; OOM is not modelled).  0: page "
                           "tables are not the policy's (the earlier rule; kernel-check took them off fast_capacity "
                           "at the start)"),
    "direct_reclaim": (0.0, "1: with pgtable_pages, a page table that finds no fast zone above its min watermark is "
                            "preceded by the task's own reclaim, 6.1's __alloc_pages_direct_reclaim -> "
                            "try_to_free_pages -> do_try_to_free_pages (mm/page_alloc.c, mm/vmscan.c): "
                            "nr_to_reclaim SWAP_CLUSTER_MAX (32), priorities DEF_PRIORITY (12) down to 0, at each a "
                            "shrink_node of the fast node with get_scan_count's targets for a fresh scan_control "
                            "(as kswapd's passes: SCAN_FRACT, SCAN_ANON when file_is_tiny; SCAN_EQUAL, the whole "
                            "lists, at priority 0), scanned SWAP_CLUSTER_MAX at a time with folio_check_references' "
                            "keep / activate / demote rules (referenced_kept_once), the whole target at "
                            "DEF_PRIORITY (shrink_lruvec's proportional_reclaim) and below it stopping after the "
                            "round that brings this priority's demotions to 32; done once 32 are demoted in all; a "
                            "shrink_node that demoted a page revives a hopeless kswapd (kswapd_failures = 0).  "
                            "Repeated (should_reclaim_retry) while no zone is above min and the round demoted "
                            "something, at most MAX_RECLAIM_RETRIES (16) times.  It is the task's own work: besides "
                            "the cost model's charges (rmap_ns, the migrations), kswapd_cpu_pages_per_s and "
                            "kswapd_cpu_scan_pages_per_s (shrink_folio_list's pace on the CPU, whoever runs it) "
                            "put its pages on the task's clock, stretched by kswapd_cpu_share as the task's other "
                            "work.  0: no direct reclaim (the earlier rule): the page table takes a page below min"),
}

#: What :func:`memtier.simulation.policies.time_scaled` divides (times) and multiplies (rates).
TIME_SCALED = ("scan_delay_ms", "scan_period_min_ms", "scan_period_max_ms", "hot_threshold_ms")
RATE_SCALED = ("promote_rate_limit_mbps", "max_scan_window_mbps", "kswapd_pages_per_s", "kswapd_scan_pages_per_s",
               "kswapd_cpu_pages_per_s", "kswapd_cpu_scan_pages_per_s")
COST_SCALED = ("hint_fault_ns", "scan_pte_ns", "scan_arm_ns", "scan_fast_ns")

# pconfig slots
(P_SCAN_PERIOD_NS, P_SCAN_PAGES, P_ALIGN, P_TH_PERIOD_MS, P_HOT_MS, P_RATE_PAGES, P_MIN, P_LOW, P_HIGH, P_PROMO,
 P_ENOUGH, P_WAKE, P_TARGET, P_TPP, P_FAULT_NS, P_PTE_NS, P_PERIOD_MIN_MS, P_FLOOR_MS, P_FIRST_SCAN_NS,
 P_FIRST_PERIOD_MS, P_FALLBACK, P_PGTABLE_WAKE, P_DEMOTE_NS, P_KEEP_NS, P_SCAN_LIMIT, P_SCAN_CHARGED,
 P_ARM_NS, P_DOUBLES, P_STEAL_DEMOTE_NS, P_STEAL_KEEP_NS, P_PROMOTE_NS, P_SLACK_NS, P_KEEP_ONCE, P_TOUCH_NS,
 P_CFS_SLOW, P_LZ_PAGES, P_LZ_PROT, P_LZ_MIN, P_LZ_LOW, P_LZ_HIGH, P_LZ_PROMO, P_PRIO_LOOP, P_SWAPPINESS,
 P_NR_TO_RECLAIM, P_HIGH_TOTAL, P_PGTABLE_PAGES, P_DIRECT_RECLAIM, P_DR_DEMOTE_NS, P_DR_KEEP_NS, P_SLICES,
 P_TICK_NS, P_PCP_HIGH, P_PCP_BATCH, P_TICK_GATE, P_STAMP_TICKS_NS, P_SCAN_TICK_NS, P_TH_AT_ONCE,
 P_FAST_NS) = range(58)
P_SIZE = 58
# pstate slots (int64)
(PS_OFFSET, PS_NR_CAND, PS_RL_START, PS_RL_NR_CAND, PS_TH, PS_TH_START, PS_TH_NR_CAND, PS_FAULTS,
 PS_KSWAPD_DEMOTED, PS_SCAN_SEQ, PS_PLACEMENT_SEQ, PS_KSWAPD_AWAKE, PS_KSWAPD_SCANNED, PS_KSWAPD_LIMIT,
 PS_LZ_USED, PS_PRIO, PS_PASS_LEFT, PS_PASS_ACTIVE_LEFT, PS_PASS_SCANNED, PS_PASS_DEMOTED, PS_RUN_DEMOTED,
 PS_FAILURES, PS_KERNEL_USED, PS_DR_CALLS, PS_DR_SCANNED, PS_DR_DEMOTED, PS_KSWAPD_RUNS, PS_PCP, PS_PCP_UNMOVABLE,
 PS_PCP_FREE_FACTOR, PS_PTE_UPDATES, PS_PGSCAN) = range(32)
PS_SIZE = 32
#: balance_pgdat's first priority (DEF_PRIORITY) and the failed runs after which kswapd leaves the
#: node (MAX_RECLAIM_RETRIES, mm/internal.h), 6.1
DEF_PRIORITY, MAX_RECLAIM_RETRIES = 12, 16
#: ``referenced`` holds two bits a page: PG_referenced (1), and whether the page is in the fast
#: node's low zone (``low_zone_pages``: ZONE_DMA)
PG_REFERENCED, IN_LOW_ZONE = 1, 2
# pfstate slots (float64): the next scan, the scan period, kswapd's own clock (how far its work has got),
# how far the clock is ahead of the accesses' own time (work charged and not yet paid back, access_slack_ns);
# kswapd_cpu_slices: kswapd's vruntime, its CPU time in all (the task's vruntime is the clock less it), and
# when the task was last picked (its prev_sum_exec_runtime); scan_tick_gate: task_tick_numa's node_stamp
# and mm->numa_next_scan, on the clock (the time the task's run time reaches node_stamp)
(PF_NEXT_SCAN_NS, PF_PERIOD_MS, PF_KSWAPD_NS, PF_LAG_NS, PF_KSWAPD_VR, PF_KSWAPD_CPU_NS, PF_TASK_PICKED_NS,
 PF_STAMP_NS, PF_DUE_NS) = range(9)
PF_SIZE = 9
#: CFS on one CPU (6.1 kernel/sched/fair.c; get_update_sysctl_factor's factor is 1 + ilog2(1) = 1):
#: sysctl_sched_latency 6 ms, sysctl_sched_min_granularity 0.75 ms, sysctl_sched_wakeup_granularity 1 ms;
#: two runnable nice-0 tasks (fewer than sched_nr_latency, 8) have a period of sched_latency and a
#: sched_slice of half of it each, and place_entity's sleeper credit is sched_latency / 2
#: (GENTLE_FAIR_SLEEPERS)
SCHED_LATENCY_NS, SCHED_MIN_GRANULARITY_NS, SCHED_WAKEUP_GRANULARITY_NS = 6e6, 0.75e6, 1e6
SCHED_SLICE_NS = SCHED_LATENCY_NS / 2

#: The most lag-paying accesses the access loop counts out at once (see ``run_policy``).
SLACK_RUN = 4096

#: ``scan_ms`` of a page never armed; an armed page holds its scan time (ms, >= 0), and a page
#: unarmed since keeps a stale one that nothing reads (its ``ARMED`` flag says which).
NOT_ARMED = -1
#: Flag of an armed page (``PROT_NONE``, its time in ``scan_ms``): the access loop tests the
#: page's flags, which it reads anyway, rather than loading ``scan_ms`` at every access
#: (a second cache miss per access on a large trace).
ARMED = 64


def _int_sqrt(x: int) -> int:
    return math.isqrt(int(x))


def watermarks(fast_pages: int, slow_pages: int, page_bytes: int, watermark_scale_factor: float,
               min_free_kbytes=None):
    """The fast node's ``(min, low, high, promo)`` watermarks in pages
    (``__setup_per_zone_wmarks``, 6.1), the node taken as one zone."""
    if min_free_kbytes is None:  # init_per_zone_wmark_min / calculate_min_free_kbytes
        lowmem_kbytes = (fast_pages + slow_pages) * page_bytes // 1024
        min_free_kbytes = min(max(_int_sqrt(lowmem_kbytes * 16), 128), 262144)
    pages_min = int(min_free_kbytes) * 1024 // page_bytes
    wmark_min = pages_min * fast_pages // max(1, fast_pages + slow_pages)  # the zone's share
    tmp = max(wmark_min >> 2, int(fast_pages * watermark_scale_factor // 10000))
    return wmark_min, wmark_min + tmp, wmark_min + 2 * tmp, wmark_min + 3 * tmp


def make_pconfig(policy, params, fast_capacity, slow_capacity, n_pages, page_bytes):
    """Validated parameters -> the kernel's float64 ``pconfig``."""
    fast_pages = min(fast_capacity, n_pages)
    slow_pages = min(slow_capacity, n_pages)
    given = [params.get(f"wmark_{w}_pages") for w in ("min", "low", "high", "promo")]
    if any(v is not None for v in given):  # read from a kernel (memtier.kernel_check)
        if any(v is None for v in given) or not given[0] <= given[1] <= given[2] <= given[3]:
            raise ValueError(f"wmark_min/low/high/promo_pages must be given together and in that order, got {given}")
        wmin, low, high, promo = (int(v) for v in given)
    else:
        wmin, low, high, promo = watermarks(fast_pages, slow_pages, page_bytes, params["watermark_scale_factor"],
                                            params["min_free_kbytes"])
    p = np.zeros(P_SIZE, dtype=np.float64)
    p[P_SCAN_PERIOD_NS] = params["scan_delay_ms"] * 1e6
    p[P_SCAN_PAGES] = max(1, int(params["scan_size_mb"] * (1 << 20)) // page_bytes)
    p[P_ALIGN] = (2 << 20) // page_bytes if page_bytes < (2 << 20) else 1  # ALIGN(end, HPAGE_SIZE)
    p[P_TH_PERIOD_MS] = params["scan_period_max_ms"]
    p[P_HOT_MS] = int(params["hot_threshold_ms"])
    p[P_RATE_PAGES] = int(params["promote_rate_limit_mbps"] * (1 << 20)) // page_bytes
    p[P_MIN], p[P_LOW], p[P_HIGH], p[P_PROMO] = wmin, low, high, promo
    p[P_ENOUGH] = max((1 << 30) // page_bytes, fast_pages >> 4)
    if policy == "tpp":
        demote = high + int(fast_pages * params["demote_scale_factor"] // 10000)
        p[P_WAKE] = p[P_TARGET] = demote
        p[P_TPP] = 1
    else:
        p[P_WAKE] = low
        p[P_TARGET] = promo
    p[P_FAULT_NS] = params["hint_fault_ns"]
    p[P_PTE_NS] = params["scan_pte_ns"]
    p[P_PERIOD_MIN_MS] = params["scan_period_min_ms"]
    p[P_FLOOR_MS] = 1000.0 * params["scan_size_mb"] / params["max_scan_window_mbps"]
    first_scan, first_period = params.get("first_scan_ms"), params.get("first_period_ms")
    p[P_FIRST_SCAN_NS] = (params["scan_delay_ms"] if first_scan is None else first_scan) * 1e6
    p[P_FIRST_PERIOD_MS] = params["scan_delay_ms"] if first_period is None else first_period
    p[P_FALLBACK] = 1.0 if params.get("fast_path_fallback", 1.0) else 0.0
    p[P_PGTABLE_WAKE] = 1.0 if params.get("pgtable_wakes_kswapd", 1.0) and policy != "tpp" else 0.0
    rate, keep_rate = params.get("kswapd_pages_per_s", 0.0), params.get("kswapd_scan_pages_per_s", 0.0)
    share = params.get("kswapd_cpu_share", 0.0)
    if not 0 <= share < 1:
        raise ValueError(f"kswapd_cpu_share is kswapd's share of the CPU it shares with the task, from 0 up to (not "
                         f"including) 1, got {share}; give 0.5 for one CPU under CFS, or 0 for kswapd's own CPU")
    if share:  # CFS on one CPU: kswapd's CPU pace times its share of the CPU, on the clock
        rate = params.get("kswapd_cpu_pages_per_s", 0.0) * share
        keep_rate = params.get("kswapd_cpu_scan_pages_per_s", 0.0) * share
        p[P_CFS_SLOW] = share / (1.0 - share)
    if params.get("kswapd_cpu_slices", 0.0):
        if share or not params.get("kswapd_priority", 1.0) or policy == "tpp":
            raise ValueError("kswapd_cpu_slices is numa-balancing's kswapd on the task's CPU by CFS's slices, in "
                             "place of kswapd_cpu_share and with balance_pgdat's passes: give it with "
                             "kswapd_cpu_share=0 and kswapd_priority=1")
        hz = params.get("sched_tick_hz", 250.0)
        if not hz > 0:
            raise ValueError(f"sched_tick_hz is the scheduler's tick a second (CONFIG_HZ, Debian's 250), got {hz}")
        # kswapd at its CPU pace while it holds the CPU, the task's run time (the scanner's timer) held
        # back by as much (kswapd_shares_cpu)
        rate = params.get("kswapd_cpu_pages_per_s", 0.0)
        keep_rate = params.get("kswapd_cpu_scan_pages_per_s", 0.0)
        p[P_SLICES] = 1.0
        p[P_TICK_NS] = 1e9 / hz
    pcp_high, pcp_batch = params.get("pcp_high_pages", 0.0), params.get("pcp_batch_pages", 31.0)
    if pcp_high and not (pcp_batch >= 1 and pcp_high >= 1):
        raise ValueError(f"pcp_high_pages and pcp_batch_pages are a per-CPU list's high and batch (zoneinfo's "
                         f"pagesets), at least 1 each, got {pcp_high} and {pcp_batch}")
    p[P_PCP_HIGH] = int(pcp_high)
    p[P_PCP_BATCH] = int(pcp_batch)
    p[P_TOUCH_NS] = params.get("first_touch_ns", 0.0)
    if params.get("low_zone_pages", 0.0) and policy != "tpp":
        lz = [params.get(f"low_zone_wmark_{w}_pages", 0.0) for w in ("min", "low", "high", "promo")]
        if not 0 <= lz[0] <= lz[1] <= lz[2] <= lz[3]:
            raise ValueError(f"low_zone_wmark_min/low/high/promo_pages must be in that order, got {lz}")
        p[P_LZ_PAGES] = params["low_zone_pages"]
        p[P_LZ_PROT] = params.get("low_zone_protection_pages", 0.0)
        p[P_LZ_MIN], p[P_LZ_LOW], p[P_LZ_HIGH], p[P_LZ_PROMO] = lz
    p[P_PRIO_LOOP] = 1.0 if params.get("kswapd_priority", 1.0) else 0.0
    swappiness = params.get("swappiness", 60.0)
    if not 0 <= swappiness <= 200:
        raise ValueError(f"swappiness is vm.swappiness, from 0 to 200, got {swappiness}; the kernel's default is 60")
    p[P_SWAPPINESS] = int(swappiness)
    # kswapd_shrink_node: the zones' high watermarks, each at least SWAP_CLUSTER_MAX
    p[P_NR_TO_RECLAIM] = max(p[P_HIGH], SWAP_CLUSTER_MAX) + (max(p[P_LZ_HIGH], SWAP_CLUSTER_MAX) if p[P_LZ_PAGES] else 0)
    p[P_HIGH_TOTAL] = p[P_HIGH] + p[P_LZ_HIGH]
    p[P_DEMOTE_NS] = 1e9 / rate if rate else 0.0
    p[P_KEEP_NS] = 1e9 / keep_rate if keep_rate else 0.0
    p[P_SCAN_LIMIT] = params.get("scan_overhead_limit", 0.0)
    p[P_SCAN_CHARGED] = 1.0 if params.get("scan_cost_charged", 1.0) else 0.0
    p[P_ARM_NS] = params.get("scan_arm_ns", 0.0)
    p[P_FAST_NS] = params.get("scan_fast_ns", 0.0)
    p[P_DOUBLES] = 1.0 if params.get("placement_doubles", 1.0) else 0.0
    if params.get("scan_tick_gate", 0.0):
        hz = params.get("sched_tick_hz", 250.0)
        if not hz > 0:
            raise ValueError(f"sched_tick_hz is the scheduler's tick a second (CONFIG_HZ, Debian's 250), got {hz}")
        p[P_TICK_GATE] = 1.0
        p[P_STAMP_TICKS_NS] = 2e9 / hz  # task_numa_work: node_stamp += 2 * TICK_NSEC
    if params.get("scan_time_ticks", 0.0):
        hz = params.get("sched_tick_hz", 250.0)
        if not hz > 0:
            raise ValueError(f"sched_tick_hz is the scheduler's tick a second (CONFIG_HZ, Debian's 250), got {hz}")
        p[P_SCAN_TICK_NS] = 1e9 / hz  # TICK_NSEC: update_curr's grain while the task runs
    p[P_TH_AT_ONCE] = 1.0 if params.get("threshold_adjusts_at_once", 0.0) else 0.0
    p[P_PROMOTE_NS] = params.get("promote_ns", 0.0)
    p[P_SLACK_NS] = params.get("access_slack_ns", 0.0)
    p[P_KEEP_ONCE] = 1.0 if params.get("referenced_kept_once", 1.0) else 0.0
    p[P_PGTABLE_PAGES] = 1.0 if params.get("pgtable_pages", 0.0) else 0.0
    p[P_DIRECT_RECLAIM] = 1.0 if params.get("direct_reclaim", 0.0) else 0.0
    if p[P_DIRECT_RECLAIM] and not p[P_PGTABLE_PAGES]:
        raise ValueError("direct_reclaim is the reclaim of a page table that finds the fast node at its min "
                         "watermark: give pgtable_pages=1 with it (or direct_reclaim=0)")
    if p[P_DIRECT_RECLAIM]:  # shrink_folio_list's pace on the task's CPU
        cpu, cpu_keep = params.get("kswapd_cpu_pages_per_s", 0.0), params.get("kswapd_cpu_scan_pages_per_s", 0.0)
        p[P_DR_DEMOTE_NS] = 1e9 / cpu if cpu else 0.0
        p[P_DR_KEEP_NS] = 1e9 / cpu_keep if cpu_keep else 0.0
    if params.get("kswapd_shares_cpu", 0.0) or p[P_SLICES]:
        cpu, cpu_keep = params.get("kswapd_cpu_pages_per_s", 0.0), params.get("kswapd_cpu_scan_pages_per_s", 0.0)
        p[P_STEAL_DEMOTE_NS] = 1e9 / cpu if cpu else 0.0
        p[P_STEAL_KEEP_NS] = 1e9 / cpu_keep if cpu_keep else 0.0
    return p


#: The kernel's own event counters (``/proc/vmstat``, 6.1) that the policy keeps as it runs, as
#: :func:`counters` gives them: name -> where 6.1 counts the event and what memtier counts.
COUNTERS = {
    "numa_pte_updates": "change_prot_numa (mm/mempolicy.c), called by task_numa_work: the PTEs a scan made "
                        "PROT_NONE; memtier: the slow node's pages a scan armed",
    "numa_hint_faults": "do_numa_page (mm/memory.c), every NUMA hint fault; memtier: every access to an armed page",
    "pgpromote_candidate": "numa_promotion_rate_limit (kernel/sched/fair.c): the faults on the slow node that "
                           "passed the hot threshold, before the rate limit; memtier: the same test",
    "pgscan_kswapd": "shrink_inactive_list (mm/vmscan.c): the fast node's inactive pages kswapd isolated; "
                     "memtier: the inactive pages its rounds took from the tail (direct reclaim's apart)",
}


def counters(storage) -> dict:
    """The kernel's event counters (:data:`COUNTERS`) of a run's state (``SimulationResult``'s
    ``counters``): cumulative from the start, as ``/proc/vmstat``'s since boot."""
    pstate = storage["pstate"]
    return {"numa_pte_updates": int(pstate[PS_PTE_UPDATES]), "numa_hint_faults": int(pstate[PS_FAULTS]),
            "pgpromote_candidate": int(pstate[PS_NR_CAND]),
            "pgscan_kswapd": int(pstate[PS_PGSCAN] - pstate[PS_DR_SCANNED])}


def make_state(pconfig, config, n_pages):
    """The policy's own arrays, in ``run_policy``'s argument order after the shared ones."""
    from .active_shrink import M_LENGTH, M_START

    fast_length = max(1, min(int(config[K_FAST_CAPACITY]), n_pages))
    meta = np.zeros((4, 4), dtype=np.int64)
    meta[:, M_LENGTH] = [fast_length, fast_length, 1, 1]
    meta[:, M_START] = [0, fast_length, 2 * fast_length, 2 * fast_length + 1]
    pstate = np.zeros(PS_SIZE, dtype=np.int64)
    # the first scan after scan_delay, and the first period scan_delay (unless first_scan_ms /
    # first_period_ms say otherwise)
    pfstate = np.zeros(PF_SIZE, dtype=np.float64)
    pfstate[PF_NEXT_SCAN_NS], pfstate[PF_PERIOD_MS] = pconfig[P_FIRST_SCAN_NS], pconfig[P_FIRST_PERIOD_MS]
    pfstate[PF_DUE_NS] = pconfig[P_FIRST_SCAN_NS]
    pfstate[PF_STAMP_NS] = pconfig[P_FIRST_SCAN_NS] - pconfig[P_FIRST_PERIOD_MS] * 1e6
    if pconfig[P_TH_AT_ONCE] != 0:  # threshold_adjusts_at_once: the window over before the first fault
        pstate[PS_TH_START] = -(int(pconfig[P_TH_PERIOD_MS]) + 1)
    align = max(1, int(pconfig[P_ALIGN]))
    return dict(
        ring=np.zeros(2 * fast_length + 2, dtype=np.int32),
        meta=meta,
        scan_ms=np.full(n_pages, NOT_ARMED, dtype=np.int32),
        referenced=np.zeros(n_pages, dtype=np.uint8),
        pstate=pstate,
        pfstate=pfstate,
        pgtable=np.zeros(n_pages // align + 1, dtype=np.uint8),  # has this 2 MB of address space a page table
    )


@njit_inline
def _whole_ms(ns):
    """``np.int64(ns // 1e6)``, the clock in whole milliseconds (``jiffies_to_msecs``), without
    the float floor division's ``fmod`` (a call into numba's helper library at every hint fault,
    as long as the rest of the fault's work on the time-scaled benchmark): the quotient rounded
    down, then corrected by one if the rounding of ``ns / 1e6`` had crossed a whole number (the
    products of whole numbers under 2**53 are exact, so the test is too).  Both are the exact
    floor of the quotient for a clock from 0 to 2**52 ns; outside that, the floor division itself.
    (For this divisor the correction never fires: a double just under ``k * 1e6`` is more than
    half a unit of ``k`` under it after the division; the guard costs two products a fault.)"""
    if not 0.0 <= ns < 4503599627370496.0:
        return np.int64(ns // 1e6)
    q = math.floor(ns / 1e6)
    if q * 1e6 > ns:
        q -= 1.0
    elif (q + 1.0) * 1e6 <= ns:
        q += 1.0
    return np.int64(q)


@njit_inline
def _zone_of(free, low_pages, low_used, protection, mark, low_mark):
    """Which zone of the fast node has free pages above its mark: 0 the main zone (above
    ``mark``), 1 the low zone (above ``low_mark`` plus its ``protection``), -1 neither; the
    main zone first (the zonelist's order).  ``free``: the node's free pages; one zone
    (``low_pages`` 0): those against ``mark``."""
    if low_pages == 0:
        return 0 if free > mark else -1
    low_free = low_pages - low_used
    if free - low_free + protection > mark:
        return 0
    if low_free > low_mark + protection:
        return 1
    return -1


@njit_inline
def _zone_above(config, state, pconfig, pstate, mark, low_mark):
    """:func:`_zone_of` on the fast node's state.  One expression, its branches in the scalar
    helper: inlined, it takes no reference to the arrays (a branching helper given arrays did,
    and called it cost the one-zone runs a fifth of their speed: bench_policies --stands-for 60,
    numa-balancing and tpp)."""
    return _zone_of(config[K_FAST_CAPACITY] - state[S_FAST_USED] - pstate[PS_KERNEL_USED] - pstate[PS_PCP],
                    pconfig[P_LZ_PAGES],
                    pstate[PS_LZ_USED],
                    pconfig[P_LZ_PROT], mark, low_mark)


@njit_inline
def _balanced(config, state, pconfig, pstate):
    """``pgdat_balanced``: a zone of the fast node above its target (the promo watermark in
    tiering mode; tpp: its demotion watermark)."""
    return _zone_above(config, state, pconfig, pstate, pconfig[P_TARGET], pconfig[P_LZ_PROMO]) >= 0


@njit_borrow
def _take_zone(page, referenced, pstate):
    """A page placed on the fast node in its low zone.  (The callers test the zone: a call per
    placement, most in the main zone, cost the one-zone runs their speed.)"""
    referenced[page] |= IN_LOW_ZONE
    pstate[PS_LZ_USED] += 1


@njit_borrow
def _leave_zone(page, referenced, pstate):
    """A page leaves the fast node: its zone has the page back."""
    if referenced[page] & IN_LOW_ZONE:
        referenced[page] &= ~IN_LOW_ZONE
        pstate[PS_LZ_USED] -= 1


@njit_borrow
def _pcp_free(n, pconfig, pstate):
    """``pcp_high_pages``: ``n`` pages of the main zone freed (``free_unref_page`` ->
    ``free_unref_page_commit``, 6.1) onto the per-CPU list, each followed by
    ``free_pcppages_bulk`` when the list reaches ``nr_pcp_high`` (``min(batch << 2, high)`` while
    kswapd's ``balance_pgdat`` runs, ``ZONE_RECLAIM_ACTIVE``), of ``nr_pcp_free`` pages: the
    movable list (the freed pages') first, the unmovable one if that runs out."""
    high_set = np.int64(pconfig[P_PCP_HIGH])
    if high_set == 0:
        return
    batch = np.int64(pconfig[P_PCP_BATCH])
    for _ in range(n):
        pstate[PS_PCP] += 1
        high = min(batch << 2, high_set) if pstate[PS_KSWAPD_AWAKE] != 0 else high_set
        if pstate[PS_PCP] >= high:
            if high < batch:  # nr_pcp_free: a list smaller than its batch frees one
                count = np.int64(1)
            else:
                most = high - batch
                count = batch << pstate[PS_PCP_FREE_FACTOR]
                if count < most:
                    pstate[PS_PCP_FREE_FACTOR] += 1
                count = min(max(count, batch), most)
            count = min(count, pstate[PS_PCP])
            movable = pstate[PS_PCP] - pstate[PS_PCP_UNMOVABLE]
            if count > movable:
                pstate[PS_PCP_UNMOVABLE] -= count - movable
            pstate[PS_PCP] -= count


@njit_borrow
def _pcp_take(unmovable, pconfig, pstate):
    """``pcp_high_pages``: a page of the main zone allocated (``rmqueue_pcplist``, 6.1: the list's
    ``free_factor`` halved) off its migratetype's list, which ``rmqueue_bulk`` first refills with
    ``batch`` pages of the zone when it is empty.  The caller has counted the page used."""
    if pconfig[P_PCP_HIGH] == 0:
        return
    batch = np.int64(pconfig[P_PCP_BATCH])
    pstate[PS_PCP_FREE_FACTOR] >>= 1
    if unmovable:
        if pstate[PS_PCP_UNMOVABLE] == 0:
            pstate[PS_PCP_UNMOVABLE] += batch
            pstate[PS_PCP] += batch
        pstate[PS_PCP_UNMOVABLE] -= 1
    elif pstate[PS_PCP] - pstate[PS_PCP_UNMOVABLE] == 0:
        pstate[PS_PCP] += batch
    pstate[PS_PCP] -= 1


@njit_borrow
def _kswapd_batch(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate, pagestat, nxt,
                  pending, referenced, n_inactive, n_active, refill):
    """One round of ``shrink_node``'s work: with ``refill`` (the earlier rule) refill the
    inactive list from the active one while ``inactive_is_low``; scan up to ``n_inactive``
    pages from the inactive tail, demoting the unreferenced ones; then move up to
    ``n_active`` pages from the active tail to the inactive head (``shrink_active_list``;
    ``shrink_lruvec`` takes the inactive list's ``SWAP_CLUSTER_MAX`` before the active one's,
    ``for_each_evictable_lru``).  Returns ``(inactive pages scanned, demoted)``; the pages
    scanned, both lists, count towards the earlier rule's limit."""
    slow_capacity = config[K_SLOW_CAPACITY]
    page_bytes = config[K_PAGE_BYTES]
    keep_once = pconfig[P_KEEP_ONCE] != 0
    # only with a low zone: reading ``referenced`` of every demoted page at random cost the
    # one-zone runs a fifth of their speed (bench_policies --stands-for 60)
    low_zone = pconfig[P_LZ_PAGES] != 0
    scanned = 0
    low_freed = 0
    while refill and lru_inactive_is_low(0, meta, page_bytes, 0) and meta[FAST_ACTIVE, M_SIZE] > 0:
        n = min(SWAP_CLUSTER_MAX, meta[FAST_ACTIVE, M_SIZE])
        shrink_active(0, n, flags, ring, meta)
        scanned += n
    n = min(n_inactive, meta[FAST_INACTIVE, M_SIZE])
    demoted = 0
    for _ in range(n):
        # the list is read in order, its pages' flags and records at random: start loading
        # those AHEAD pages on (as active_shrink's scans do)
        ahead = np.uint64(ring[meta[FAST_INACTIVE, M_START] + ring_ahead(meta[FAST_INACTIVE, M_TAIL],
                                                                      meta[FAST_INACTIVE, M_LENGTH])])
        prefetch(flags, ahead)
        prefetch(pagestat, ahead)
        # and the row's end: a 12-byte row spans two cache lines one time in eight, and the
        # marks word (the first thing move_page reads) is then in the second
        prefetch(pagestat, ahead + np.uint64(1))
        page = pop_tail(FAST_INACTIVE, ring, meta)
        f = flags[page]
        if f & ACCESSED:
            if keep_once and referenced[page] & PG_REFERENCED == 0:  # folio_check_references: FOLIOREF_KEEP
                referenced[page] |= PG_REFERENCED
                flags[page] = f & ~ACCESSED
                push_head(FAST_INACTIVE, page, ring, meta)
            else:  # FOLIOREF_ACTIVATE (PG_referenced stays set)
                flags[page] = (f & ~ACCESSED) | ACTIVE
                push_head(FAST_ACTIVE, page, ring, meta)
        elif state[S_SLOW_USED] < slow_capacity:
            if keep_once:  # folio_test_clear_referenced: reclaimed, not referenced
                referenced[page] &= ~PG_REFERENCED
            if low_zone:
                if referenced[page] & IN_LOW_ZONE:
                    low_freed += 1
                _leave_zone(page, referenced, pstate)
            move_page(page, False, flags, state, pagestat, nxt, config, fconfig, pending)
            demoted += 1
        else:
            push_head(FAST_INACTIVE, page, ring, meta)
    scanned += n
    n_active = min(n_active, meta[FAST_ACTIVE, M_SIZE])
    if n_active > 0:
        shrink_active(0, n_active, flags, ring, meta)
        scanned += n_active
    if demoted > 0:
        charge_migration(calls_cost_us(demoted, config[K_BATCH_PAGES], migrate_cost), fstate, pending)
        _pcp_free(demoted - low_freed, pconfig, pstate)  # the main zone's pages, onto its per-CPU list
    if scanned > 0:
        charge_overhead(scanned * fconfig[F_RMAP_NS], scanned, fstate, pending)
    pstate[PS_KSWAPD_SCANNED] += scanned
    pstate[PS_PGSCAN] += n  # shrink_inactive_list's nr_scanned (PGSCAN_KSWAPD or PGSCAN_DIRECT)
    return n, demoted


@njit_borrow
def _age_active(meta, flags, ring, config):
    """``shrink_active_list(SWAP_CLUSTER_MAX)`` if ``inactive_is_low``: ``kswapd_age_node``
    before each pass, and ``shrink_lruvec`` after it (6.1)."""
    if lru_inactive_is_low(0, meta, config[K_PAGE_BYTES], 0) and meta[FAST_ACTIVE, M_SIZE] > 0:
        shrink_active(0, min(SWAP_CLUSTER_MAX, meta[FAST_ACTIVE, M_SIZE]), flags, ring, meta)


@njit_borrow
def _pass_start(pconfig, config, state, meta, flags, ring, pstate):
    """The top of ``balance_pgdat``'s loop past ``pgdat_balanced``: ``kswapd_age_node``, then
    ``shrink_node``'s targets for this priority (:func:`_scan_targets`)."""
    _age_active(meta, flags, ring, config)
    in_target, active_target = _scan_targets(pconfig, config, state, meta, pstate, pstate[PS_PRIO])
    pstate[PS_PASS_LEFT] = in_target
    pstate[PS_PASS_ACTIVE_LEFT] = active_target
    pstate[PS_PASS_SCANNED] = 0
    pstate[PS_PASS_DEMOTED] = 0


@njit_borrow
def _scan_targets(pconfig, config, state, meta, pstate, prio):
    """``shrink_node``'s targets at priority ``prio`` (``prepare_scan_count``,
    ``get_scan_count``), for kswapd's passes (:func:`_pass_start`) and direct reclaim
    (:func:`_direct_reclaim`): ``(inactive >> prio) x swappiness // 200`` of the inactive list,
    as much of the active list when ``inactive_is_low`` (``may_deactivate``, else none:
    ``shrink_list`` skips it), or ``inactive >> prio`` alone when ``file_is_tiny`` (no file
    pages, the node's free pages at most its zones' high watermarks, the inactive list not
    low: ``SCAN_ANON``); the whole lists at priority 0 (``SCAN_EQUAL``: direct reclaim's last;
    kswapd's passes stop at 1)."""
    inactive, active = meta[FAST_INACTIVE, M_SIZE], meta[FAST_ACTIVE, M_SIZE]
    may_deactivate = lru_inactive_is_low(0, meta, config[K_PAGE_BYTES], 0)
    # the node's free pages: fast_capacity leaves out the low zone's protection
    free = (config[K_FAST_CAPACITY] - state[S_FAST_USED] - pstate[PS_KERNEL_USED] - pstate[PS_PCP]
            + (pconfig[P_LZ_PROT] if pconfig[P_LZ_PAGES] != 0 else 0))
    in_target, active_target = inactive >> prio, active >> prio
    if prio > 0 and not (free <= pconfig[P_HIGH_TOTAL] and not may_deactivate and in_target > 0):  # SCAN_FRACT
        swappiness = np.int64(pconfig[P_SWAPPINESS])
        in_target = in_target * swappiness // 200
        active_target = active_target * swappiness // 200
    return in_target, (active_target if may_deactivate else 0)


@njit_borrow
def _pass_end(pconfig, config, state, meta, flags, ring, pstate):
    """The end of a pass (``shrink_lruvec``'s last aging, then ``balance_pgdat``): the
    priority falls unless the pass scanned ``nr_to_reclaim`` and demoted something; below 1
    the ``balance_pgdat`` ends (a failure if it demoted nothing) and kswapd sleeps if the node
    is hopeless or balanced (``kswapd_try_to_sleep``), else starts another at
    ``DEF_PRIORITY``; then ``pgdat_balanced`` at the loop's top, kswapd still on its CPU.
    True when kswapd went to sleep."""
    _age_active(meta, flags, ring, config)
    demoted = pstate[PS_PASS_DEMOTED]
    pstate[PS_RUN_DEMOTED] += demoted
    if demoted > 0:  # shrink_node: reclaimable, kswapd_failures = 0
        pstate[PS_FAILURES] = 0
    if pstate[PS_PASS_SCANNED] < pconfig[P_NR_TO_RECLAIM] or demoted == 0:  # raise_priority || !nr_reclaimed
        pstate[PS_PRIO] -= 1
    if pstate[PS_PRIO] < 1:
        if pstate[PS_RUN_DEMOTED] == 0:
            pstate[PS_FAILURES] += 1
        if pstate[PS_FAILURES] >= MAX_RECLAIM_RETRIES:
            pstate[PS_KSWAPD_AWAKE] = 0
            return True
        pstate[PS_PRIO] = DEF_PRIORITY
        pstate[PS_RUN_DEMOTED] = 0
        if not _balanced(config, state, pconfig, pstate):  # kswapd_try_to_sleep does not sleep: balance_pgdat again
            pstate[PS_KSWAPD_RUNS] += 1
    if _balanced(config, state, pconfig, pstate):
        pstate[PS_KSWAPD_AWAKE] = 0
        return True
    return False


@njit_borrow
def _balance_step(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate, pfstate, pagestat,
                  nxt, pending, referenced):
    """``kswapd_priority``: one step of 6.1's ``balance_pgdat`` (see the parameter): a round of
    ``SWAP_CLUSTER_MAX`` inactive pages (and as many active ones) of the pass, a new pass begun
    first if the last one ended, and the pass's end (:func:`_pass_end`: the balance checked,
    kswapd asleep after it if balanced) when the round ends it.  Returns kswapd's CPU time for
    the round (``P_DEMOTE_NS`` a page demoted, ``P_KEEP_NS`` a page kept); the scanner's timer
    moves back by the round's time on the task's CPU (``kswapd_shares_cpu``)."""
    if pstate[PS_PASS_LEFT] == 0:  # a new pass
        _pass_start(pconfig, config, state, meta, flags, ring, pstate)
        if pstate[PS_PASS_LEFT] == 0:  # nothing to scan at this priority
            _pass_end(pconfig, config, state, meta, flags, ring, pstate)
            return 0.0
    n_inactive = min(SWAP_CLUSTER_MAX, pstate[PS_PASS_LEFT])
    n_active = min(SWAP_CLUSTER_MAX, pstate[PS_PASS_ACTIVE_LEFT])
    pstate[PS_PASS_LEFT] -= n_inactive
    pstate[PS_PASS_ACTIVE_LEFT] -= n_active
    n, demoted = _kswapd_batch(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate,
                               pagestat, nxt, pending, referenced, n_inactive, n_active, False)
    pstate[PS_PASS_SCANNED] += n
    pstate[PS_PASS_DEMOTED] += demoted
    stolen = demoted * pconfig[P_STEAL_DEMOTE_NS] + (n - demoted) * pconfig[P_STEAL_KEEP_NS]
    pfstate[PF_NEXT_SCAN_NS] += stolen
    pfstate[PF_STAMP_NS] += stolen
    if pstate[PS_PASS_DEMOTED] >= pconfig[P_NR_TO_RECLAIM]:  # shrink_lruvec: enough, and no file list
        pstate[PS_PASS_LEFT] = 0
    if pstate[PS_PASS_LEFT] == 0:
        _pass_end(pconfig, config, state, meta, flags, ring, pstate)
    return demoted * pconfig[P_DEMOTE_NS] + (n - demoted) * pconfig[P_KEEP_NS]


@njit_borrow
def _balance_pgdat_until(until_ns, pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate,
                         pstate, pfstate, pagestat, nxt, pending, referenced):
    """``kswapd_priority``: 6.1's ``balance_pgdat`` up to ``until_ns``, its steps
    (:func:`_balance_step`) at kswapd's clock, as :func:`_kswapd_until`'s rounds."""
    while pstate[PS_KSWAPD_AWAKE] != 0 and pfstate[PF_KSWAPD_NS] <= until_ns:
        pfstate[PF_KSWAPD_NS] += _balance_step(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state,
                                               fstate, pstate, pfstate, pagestat, nxt, pending, referenced)


@njit_inline
def _tick_reschedules(ran, running_vr, waiting_vr):
    """``kswapd_cpu_slices``: ``check_preempt_tick`` (6.1, two nice-0 tasks on one CPU): the one
    on the CPU, there for ``ran`` ns since it was picked, is rescheduled once it has run its
    ``sched_slice``, or, past ``sysctl_sched_min_granularity``, once its vruntime is a slice
    ahead of the waiting one's.  Who runs next is ``pick_next_entity``'s choice (the callers)."""
    return ran > SCHED_SLICE_NS or (ran >= SCHED_MIN_GRANULARITY_NS and running_vr - waiting_vr > SCHED_SLICE_NS)


@njit_borrow
def _next_pick(t, pconfig, pfstate):
    """``kswapd_cpu_slices``: kswapd runnable and waiting from ``t``, the task on the CPU since
    ``PF_TASK_PICKED_NS``: the first tick after ``t`` at which ``check_preempt_tick`` reschedules
    the task (it has run its ``sched_slice``, or past ``sysctl_sched_min_granularity`` it is a
    slice ahead of kswapd) and ``pick_next_entity`` takes kswapd (its vruntime not above the
    task's: the waiting one first on a tie, as the rbtree puts the one put back after its
    equal); a reschedule that picks the task again starts its slice anew (``set_next_entity``)."""
    tick = pconfig[P_TICK_NS]
    vr = pfstate[PF_KSWAPD_VR]
    picked = pfstate[PF_TASK_PICKED_NS]
    at = (math.floor(t / tick) + 1.0) * tick
    while True:
        ran = at - picked
        task_vr = at - pfstate[PF_KSWAPD_CPU_NS]  # the task's vruntime: its CPU time, the clock less kswapd's
        if _tick_reschedules(ran, task_vr, vr):
            if vr <= task_vr:
                return at
            picked = at
        at += tick


@njit_borrow
def _kswapd_slices(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate, pfstate,
                   pagestat, nxt, pending, referenced):
    """``kswapd_cpu_slices``: kswapd, picked now, holds the CPU, the task's clock running on while it
    does ``balance_pgdat``'s steps (:func:`_balance_step`) until it sleeps (balanced, or hopeless) or a
    tick reschedules it (``check_preempt_tick``: it has run its ``sched_slice``, or past
    ``sysctl_sched_min_granularity`` it is a slice ahead of the task) and the task, of lower
    vruntime, is picked; a tick inside a step takes effect at its end (the stated departure).  Then
    the task runs, and kswapd, if still runnable, is due at :func:`_next_pick`."""
    start = fstate[FS_NOW_NS]
    t = start
    picked = start
    task_vr = start - pfstate[PF_KSWAPD_CPU_NS]  # off the CPU, the task's vruntime stays
    vr = pfstate[PF_KSWAPD_VR]
    tick = pconfig[P_TICK_NS]
    at = (math.floor(t / tick) + 1.0) * tick
    preempted = False
    while pstate[PS_KSWAPD_AWAKE] != 0 and not preempted:
        t += _balance_step(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate, pfstate,
                           pagestat, nxt, pending, referenced)
        while at <= t and not preempted:
            ran = at - picked
            tick_vr = vr + (at - start)
            if _tick_reschedules(ran, tick_vr, task_vr):
                if task_vr <= tick_vr:  # pick_next_entity: the task
                    preempted = True
                else:  # kswapd again, a slice anew
                    picked = at
            at += tick
    pfstate[PF_KSWAPD_VR] = vr + (t - start)
    pfstate[PF_KSWAPD_CPU_NS] += t - start
    fstate[FS_NOW_NS] = t
    pfstate[PF_TASK_PICKED_NS] = t
    if pstate[PS_KSWAPD_AWAKE] != 0:
        pfstate[PF_KSWAPD_NS] = _next_pick(t, pconfig, pfstate)


@njit_borrow
def _kswapd_until(until_ns, pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate,
                  pfstate, pagestat, nxt, pending, referenced):
    """kswapd's work up to ``until_ns`` of the clock.  While awake it does one round
    (:func:`_kswapd_batch`) at its own clock ``PF_KSWAPD_NS``, which then moves on by
    ``P_DEMOTE_NS`` a page demoted and ``P_KEEP_NS`` a page scanned and kept (both 0: the
    whole balancing at once); it sleeps once the fast node's free pages exceed ``P_TARGET``
    (``pgdat_balanced``: ``zone_watermark_ok``, free > mark), the lists were scanned twice
    over since it woke, or the inactive list is empty.  ``kswapd_priority``: 6.1's passes
    instead (:func:`_balance_pgdat_until`)."""
    if pconfig[P_SLICES] != 0:  # kswapd holds the CPU from now (due by until_ns)
        _kswapd_slices(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate, pfstate,
                       pagestat, nxt, pending, referenced)
        return
    if pconfig[P_PRIO_LOOP] != 0:
        _balance_pgdat_until(until_ns, pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate,
                             pstate, pfstate, pagestat, nxt, pending, referenced)
        return
    while pstate[PS_KSWAPD_AWAKE] != 0 and pfstate[PF_KSWAPD_NS] <= until_ns:
        if _balanced(config, state, pconfig, pstate) or pstate[PS_KSWAPD_SCANNED] >= pstate[PS_KSWAPD_LIMIT]:
            pstate[PS_KSWAPD_AWAKE] = 0
            break
        n, demoted = _kswapd_batch(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate,
                                   pagestat, nxt, pending, referenced, SWAP_CLUSTER_MAX, 0, True)
        if n == 0:
            pstate[PS_KSWAPD_AWAKE] = 0
            break
        pfstate[PF_KSWAPD_NS] += demoted * pconfig[P_DEMOTE_NS] + (n - demoted) * pconfig[P_KEEP_NS]
        # on the task's CPU, kswapd's CPU time holds back the scanner's run-time timer
        stolen = demoted * pconfig[P_STEAL_DEMOTE_NS] + (n - demoted) * pconfig[P_STEAL_KEEP_NS]
        pfstate[PF_NEXT_SCAN_NS] += stolen
        pfstate[PF_STAMP_NS] += stolen
        if pconfig[P_CFS_SLOW] != 0 and _balanced(config, state, pconfig, pstate):
            # one CPU: balance_pgdat checks pgdat_balanced right after its shrink_node, the task off
            # the CPU, so what the round freed is not taken back by allocations first
            pstate[PS_KSWAPD_AWAKE] = 0
            break


@njit_borrow
def _kswapd_wake(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate, pfstate,
                 pagestat, nxt, pending, referenced):
    """``wakeup_kswapd``: nothing if kswapd is awake or the node is balanced (or, with
    ``kswapd_priority``, hopeless: ``kswapd_failures`` at ``MAX_RECLAIM_RETRIES``); else kswapd
    starts now (its clock set to the task's; ``balance_pgdat`` at ``DEF_PRIORITY``) and does
    what it can by now (:func:`_kswapd_until`: at once, all of it, when its rates are 0)."""
    if pstate[PS_KSWAPD_AWAKE] != 0 or _balanced(config, state, pconfig, pstate):
        return
    if pconfig[P_PRIO_LOOP] != 0:
        if pstate[PS_FAILURES] >= MAX_RECLAIM_RETRIES:
            return
        pstate[PS_PRIO] = DEF_PRIORITY
        pstate[PS_PASS_LEFT] = 0
        pstate[PS_PASS_ACTIVE_LEFT] = 0
        pstate[PS_RUN_DEMOTED] = 0
    pstate[PS_KSWAPD_AWAKE] = 1
    pstate[PS_KSWAPD_SCANNED] = 0
    pstate[PS_KSWAPD_LIMIT] = 2 * (meta[FAST_INACTIVE, M_SIZE] + meta[FAST_ACTIVE, M_SIZE]) + SWAP_CLUSTER_MAX
    pfstate[PF_KSWAPD_NS] = fstate[FS_NOW_NS]
    pstate[PS_KSWAPD_RUNS] += 1  # balance_pgdat's PAGEOUTRUN
    if pconfig[P_SLICES] != 0:
        # try_to_wake_up -> enqueue_entity -> place_entity: at most sched_latency / 2 behind min_vruntime,
        # the task's vruntime (alone on the CPU while kswapd slept); check_preempt_wakeup: kswapd takes
        # the CPU when the waking fault returns if it is more than the wakeup granularity behind, else at
        # the task's reschedule
        now = fstate[FS_NOW_NS]
        task_vr = now - pfstate[PF_KSWAPD_CPU_NS]
        pfstate[PF_KSWAPD_VR] = max(pfstate[PF_KSWAPD_VR], task_vr - SCHED_LATENCY_NS / 2)
        if task_vr - pfstate[PF_KSWAPD_VR] <= SCHED_WAKEUP_GRANULARITY_NS:
            pfstate[PF_KSWAPD_NS] = _next_pick(now, pconfig, pfstate)
        return
    _kswapd_until(fstate[FS_NOW_NS], pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate,
                  pfstate, pagestat, nxt, pending, referenced)


@njit_borrow
def _direct_reclaim(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate, pagestat, nxt,
                    pending, referenced):
    """``do_try_to_free_pages`` (6.1, ``mm/vmscan.c``) by the allocating task, of the fast node
    (``shrink_zones``: node 1's ``ZONE_MOVABLE`` is above a ``GFP_KERNEL`` allocation's
    ``reclaim_idx``): ``nr_to_reclaim`` ``SWAP_CLUSTER_MAX``, priorities ``DEF_PRIORITY`` down to
    0, each a ``shrink_node`` with ``get_scan_count``'s targets (``prepare_scan_count`` on a fresh
    ``scan_control``, as :func:`_pass_start`; ``SCAN_EQUAL`` at priority 0: the whole lists) and
    ``shrink_lruvec``'s rounds (``SWAP_CLUSTER_MAX`` inactive, then as many active pages while
    ``may_deactivate``, :func:`_kswapd_batch`), the whole target at ``DEF_PRIORITY``
    (``proportional_reclaim``) and below it up to the round that brings the priority's demotions
    to ``nr_to_reclaim`` (no file pages: ``if (!nr_file || !nr_anon) break``); then its last
    aging (:func:`_age_active`); a ``shrink_node`` that demoted a page resets ``kswapd_failures``;
    done once the demotions reach ``nr_to_reclaim``.  Returns ``(demoted, task ns)``: the pages at
    ``kswapd_cpu_*_pages_per_s`` on the task's CPU, which the caller puts on its clock.
    Not modelled: ``consider_reclaim_throttle``'s sleep at priority 1 with nothing reclaimed, and
    the retry with ``force_deactivate`` after a call that reclaimed nothing."""
    kswapd_scanned = pstate[PS_KSWAPD_SCANNED]  # the earlier rule's limit counts kswapd's pages only
    reclaimed = 0
    task_ns = 0.0
    pstate[PS_DR_CALLS] += 1
    prio = DEF_PRIORITY
    while prio >= 0:
        in_target, active_target = _scan_targets(pconfig, config, state, meta, pstate, prio)
        local = 0
        while in_target > 0:  # shrink_lruvec: while nr[LRU_INACTIVE_ANON] (no file pages)
            n_inactive = min(SWAP_CLUSTER_MAX, in_target)
            n_active = min(SWAP_CLUSTER_MAX, active_target)
            in_target -= n_inactive
            active_target -= n_active
            n, demoted = _kswapd_batch(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate,
                                       pstate, pagestat, nxt, pending, referenced, n_inactive, n_active, False)
            local += demoted
            pstate[PS_DR_SCANNED] += n
            task_ns += demoted * pconfig[P_DR_DEMOTE_NS] + (n - demoted) * pconfig[P_DR_KEEP_NS]
            if n == 0:
                break
            if local >= SWAP_CLUSTER_MAX and prio != DEF_PRIORITY:
                break
        _age_active(meta, flags, ring, config)
        reclaimed += local
        if local > 0:  # shrink_node: reclaimable, "a successful direct reclaim run will revive a dormant kswapd"
            pstate[PS_FAILURES] = 0
        if reclaimed >= SWAP_CLUSTER_MAX:
            break
        prio -= 1
    pstate[PS_DR_DEMOTED] += reclaimed
    pstate[PS_KSWAPD_SCANNED] = kswapd_scanned
    return reclaimed, task_ns


@njit_borrow
def _kernel_page(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate, pagestat, nxt,
                 pending, referenced):
    """A ``GFP_KERNEL`` page (a page table: ``pgtable_pages``) from the fast node, after
    ``wake_all_kswapds`` where the fast path failed (the caller): the zonelist at the min
    watermark (``__alloc_pages_slowpath``'s ``ALLOC_WMARK_MIN``); where no zone passes,
    ``direct_reclaim`` (:func:`_direct_reclaim`), again while it demotes pages and no zone passes,
    at most ``MAX_RECLAIM_RETRIES`` times (``should_reclaim_retry``); then the page, below min
    if it must be (the reserves; memtier has no OOM).  Returns the task's time for the reclaim."""
    task_ns = 0.0
    zone = _zone_above(config, state, pconfig, pstate, pconfig[P_LOW], pconfig[P_LZ_LOW])
    if zone < 0:
        zone = _zone_above(config, state, pconfig, pstate, pconfig[P_MIN], pconfig[P_LZ_MIN])
    tries = 0
    while zone < 0 and pconfig[P_DIRECT_RECLAIM] != 0 and tries < MAX_RECLAIM_RETRIES:
        reclaimed, ns = _direct_reclaim(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate,
                                        pstate, pagestat, nxt, pending, referenced)
        task_ns += ns
        tries += 1
        zone = _zone_above(config, state, pconfig, pstate, pconfig[P_MIN], pconfig[P_LZ_MIN])
        if reclaimed == 0:
            break
    pstate[PS_KERNEL_USED] += 1
    if zone == 1:
        pstate[PS_LZ_USED] += 1
    elif pconfig[P_PCP_HIGH] != 0:
        _pcp_take(True, pconfig, pstate)
    return task_ns


@njit_borrow
def _rate_limited(pconfig, pstate, now_ms):
    """``numa_promotion_rate_limit``: count the candidate; true when the candidates of the
    current second reach the limit."""
    pstate[PS_NR_CAND] += 1
    if now_ms - pstate[PS_RL_START] > 1000:
        pstate[PS_RL_START] = now_ms
        pstate[PS_RL_NR_CAND] = pstate[PS_NR_CAND]
    return pstate[PS_NR_CAND] - pstate[PS_RL_NR_CAND] >= np.int64(pconfig[P_RATE_PAGES])


@njit_borrow
def _adjust_threshold(pconfig, pstate, now_ms):
    """``numa_promotion_adjust_threshold``: every ``scan_period_max_ms``, lower the threshold
    by ``unit = 2 x default / 16`` if the candidates exceeded 110 % of what the rate limit
    allows in that time, raise it if they were under 90 % (between ``unit`` and twice the
    default)."""
    period = np.int64(pconfig[P_TH_PERIOD_MS])
    if now_ms - pstate[PS_TH_START] > period:
        pstate[PS_TH_START] = now_ms
        ref_th = np.int64(pconfig[P_HOT_MS])
        ref_cand = np.int64(pconfig[P_RATE_PAGES]) * period // 1000
        diff_cand = pstate[PS_NR_CAND] - pstate[PS_TH_NR_CAND]
        unit_th = ref_th * 2 // 16
        th = pstate[PS_TH] if pstate[PS_TH] != 0 else ref_th
        if diff_cand > ref_cand * 11 // 10:
            th = max(th - unit_th, unit_th)
        elif diff_cand < ref_cand * 9 // 10:
            th = min(th + unit_th, ref_th * 2)
        pstate[PS_TH_NR_CAND] = pstate[PS_NR_CAND]
        pstate[PS_TH] = th


@njit_borrow
def _placement(pconfig, config, state, fstate, pstate, pfstate):
    """``task_numa_placement`` -> ``update_task_scan_period`` at the first recorded (promoting)
    fault of a new pass: the period doubles (up to the task's longest) and the next scan is a
    period from now, or (``placement_doubles`` 0) it grows by three tenths within the task's
    bounds."""
    if pstate[PS_SCAN_SEQ] == pstate[PS_PLACEMENT_SEQ]:
        return
    pstate[PS_PLACEMENT_SEQ] = pstate[PS_SCAN_SEQ]
    scan_pages = np.int64(pconfig[P_SCAN_PAGES])
    rss = max(state[S_DISTINCT], 1)
    windows = (rss + scan_pages - 1) // scan_pages  # task_nr_scan_windows
    shortest = max(pconfig[P_FLOOR_MS], pconfig[P_PERIOD_MIN_MS] / windows)  # task_scan_min
    longest = max(shortest, pconfig[P_TH_PERIOD_MS] / windows)  # task_scan_max
    period = pfstate[PF_PERIOD_MS]
    if pconfig[P_DOUBLES] != 0:  # local + shared == 0: scan slower
        pfstate[PF_PERIOD_MS] = min(2 * period, longest)
        pfstate[PF_NEXT_SCAN_NS] = fstate[FS_NOW_NS] + pfstate[PF_PERIOD_MS] * 1e6  # mm->numa_next_scan
        pfstate[PF_DUE_NS] = pfstate[PF_NEXT_SCAN_NS]
    else:
        pfstate[PF_PERIOD_MS] = min(max(period + 3 * (period / 10), shortest), longest)
    if pconfig[P_TICK_GATE] != 0:
        _tick_gate(pfstate)


@njit_inline
def _tick_gate(pfstate):
    """``scan_tick_gate``: when the next scan runs under 6.1's two gates (``kernel/sched/fair.c``):
    ``task_tick_numa`` opens the first once the task's run time passes ``node_stamp`` plus the
    period (here its time on the clock, ``PF_STAMP_NS`` plus the period) and then moves
    ``node_stamp`` on by the period, queueing ``task_numa_work`` only if ``mm->numa_next_scan``
    (``PF_DUE_NS``) has come: a window that opens before it is lost, and the next opens a period
    later.  (The tick's own 4 ms grain is left out.)"""
    period_ns = pfstate[PF_PERIOD_MS] * 1e6
    gate = pfstate[PF_STAMP_NS] + period_ns
    while gate < pfstate[PF_DUE_NS]:
        pfstate[PF_STAMP_NS] += period_ns
        gate += period_ns
    pfstate[PF_NEXT_SCAN_NS] = gate


#: What :func:`_hint_fault` decided: the page stays (unarmed), is promoted (:func:`_promote`), or
#: stays and kswapd is woken (``numamigrate_isolate_page``).
FAULT_STAYS, FAULT_PROMOTES, FAULT_WAKES = 0, 1, 2


@njit_borrow
def _hint_fault(page, pconfig, config, flags, scan_ms, referenced, state, fstate, pstate, pending):
    """``do_numa_page`` on an armed (slow) page, up to the move: charges the fault, unarms the
    page and decides (``FAULT_STAYS``, ``FAULT_PROMOTES``, ``FAULT_WAKES``).  The caller does the
    promotion (:func:`_promote`) or wakes kswapd; the arrays only those read are not passed here,
    where all but a few of the faults end (passing the two dozen arrays at each fault took a
    tenth of the access loop's time on the time-scaled benchmark)."""
    charge_overhead(pconfig[P_FAULT_NS], 1, fstate, pending)
    pstate[PS_FAULTS] += 1
    f = flags[page] & ~ARMED  # unarmed: its scan_ms is stale from now on, never read
    flags[page] = f
    if f & FAST:
        return FAULT_STAYS
    if pconfig[P_TPP] != 0 and not f & ACTIVE:  # TPP: only active pages migrate
        if referenced[page]:  # mark_page_accessed: inactive, referenced -> active
            flags[page] = f | ACTIVE
            referenced[page] = 0
        else:
            referenced[page] = 1
        return FAULT_STAYS
    now_ms = _whole_ms(fstate[FS_NOW_NS])
    enough = pconfig[P_ENOUGH]
    if _zone_above(config, state, pconfig, pstate, pconfig[P_PROMO] + enough,
                   pconfig[P_LZ_PROMO] + enough) >= 0:  # pgdat_free_space_enough
        pstate[PS_TH] = 0
    else:
        _adjust_threshold(pconfig, pstate, now_ms)
        th = pstate[PS_TH] if pstate[PS_TH] != 0 else np.int64(pconfig[P_HOT_MS])
        if now_ms - scan_ms[page] >= th:  # read only here: a cache miss the other faults do without
            return FAULT_STAYS
        if _rate_limited(pconfig, pstate, now_ms):
            return FAULT_STAYS
    if _zone_above(config, state, pconfig, pstate, pconfig[P_HIGH] + 1, pconfig[P_LZ_HIGH] + 1) >= 0:
        return FAULT_PROMOTES  # migrate_balanced_pgdat
    return FAULT_WAKES


@njit_borrow
def _promote(page, pconfig, config, fconfig, migrate_cost, flags, ring, meta, referenced, state, fstate, pstate,
             pfstate, pagestat, nxt, pending):
    """A hint fault's promotion (``migrate_misplaced_page``), the new page from the zonelist at the
    low watermark.  Returns the task's own time the fault charged in all (the fault, the move),
    which ``kswapd_cpu_share`` stretches."""
    if _zone_above(config, state, pconfig, pstate, pconfig[P_LOW], pconfig[P_LZ_LOW]) == 1:
        _take_zone(page, referenced, pstate)
    elif pconfig[P_PCP_HIGH] != 0:
        _pcp_take(False, pconfig, pstate)
    move_page(page, True, flags, state, pagestat, nxt, config, fconfig, pending)
    push_head(FAST_ACTIVE if flags[page] & ACTIVE else FAST_INACTIVE, page, ring, meta)
    charge_migration(migrate_cost[1], fstate, pending)
    if pconfig[P_PROMOTE_NS] != 0:  # migrate_misplaced_page, in the task's fault
        charge_migration(pconfig[P_PROMOTE_NS] * 1e-3, fstate, pending)
    _placement(pconfig, config, state, fstate, pstate, pfstate)
    return pconfig[P_FAULT_NS] + migrate_cost[1] * 1e3 + pconfig[P_PROMOTE_NS]


@njit_borrow
def _scan(pconfig, flags, scan_ms, fstate, pstate, pending):
    """``task_numa_work``: arm the next ``scan_size`` of address space (see the module)."""
    n_pages = flags.shape[0]
    now_ms = _whole_ms(fstate[FS_NOW_NS])
    align = np.int64(pconfig[P_ALIGN])
    pages = np.int64(pconfig[P_SCAN_PAGES])
    virtpages = pages * 8
    start = pstate[PS_OFFSET]
    walked = 0
    fast = 0
    armed = 0
    while True:
        if start >= n_pages:  # past the last VMA: reset_ptenuma_scan, a new pass
            start = 0
            pstate[PS_SCAN_SEQ] += 1
            break
        end = min(((start + pages + align - 1) // align) * align, n_pages)
        updates = 0
        for page in range(start, end):
            f = flags[page]
            if f != 0:  # present
                walked += 1
                if f & FAST:
                    fast += 1
                elif not f & ARMED:
                    scan_ms[page] = now_ms
                    flags[page] = f | ARMED
                    updates += 1
        armed += updates
        if updates > 0:
            pages -= end - start
        virtpages -= end - start
        start = end
        if pages <= 0 or virtpages <= 0:
            break
    pstate[PS_OFFSET] = start
    pstate[PS_PTE_UPDATES] += armed  # change_prot_numa: count_vm_numa_events(NUMA_PTE_UPDATES, nr_updated)
    scan_ns = walked * pconfig[P_PTE_NS] + fast * pconfig[P_FAST_NS] + armed * pconfig[P_ARM_NS]
    if pconfig[P_SCAN_CHARGED] != 0:
        charge_overhead(scan_ns, 0, fstate, pending)
    return scan_ns


@njit_inline
def _scan_runtime(scan_ns, pconfig):
    """The scan's own time as ``task_numa_work`` counts it for ``scan_overhead_limit``: the growth
    of ``p->se.sum_exec_runtime`` over the scan, which ``update_curr`` brings up to date only at
    the scheduler's tick while the task runs on (``scan_time_ticks``: the whole ticks within the
    scan, which starts right after the tick that queued it), else the scan's time itself."""
    tick = pconfig[P_SCAN_TICK_NS]
    if tick == 0:
        return scan_ns
    return tick * math.floor(scan_ns / tick)


@njit_borrow
def _next_event(next_scan, pstate, pfstate):
    """The next time the access loop must stop: the scanner's, or kswapd's next round."""
    if pstate[PS_KSWAPD_AWAKE] != 0 and pfstate[PF_KSWAPD_NS] < next_scan:
        return pfstate[PF_KSWAPD_NS]
    return next_scan


@njit
def run_policy(trace, writes, final, config, fconfig, pconfig, migrate_cost, flags, counts, touched, histogram, top,
         state, fstate, moved, pagestat, judged, nxt, pending, out, ring, meta, scan_ms, referenced,
         pstate, pfstate, pgtable):
    """Run one chunk of the trace; the number of periods closed (rows of ``out``).  Each
    access: a first touch allocates, an armed page faults, the access is served
    (``_driver.serve_until``, which returns at the first two), then kswapd does its work
    due by then, the scanner runs if its time has come and the period closes if it is over."""
    capacity = config[K_FAST_CAPACITY]
    slow_capacity = config[K_SLOW_CAPACITY]
    wake = pconfig[P_WAKE]
    low = pconfig[P_LOW]
    floor = low if pconfig[P_FALLBACK] != 0 else pconfig[P_MIN]  # ALLOC_WMARK_LOW, or the earlier ALLOC_WMARK_MIN
    low_zone_low = pconfig[P_LZ_LOW]
    low_zone_floor = low_zone_low if pconfig[P_FALLBACK] != 0 else pconfig[P_LZ_MIN]
    pgtable_wake = pconfig[P_PGTABLE_WAKE] != 0
    pgtable_pages = pconfig[P_PGTABLE_PAGES] != 0
    align = max(np.int64(1), np.int64(pconfig[P_ALIGN]))
    latency = np.array([fconfig[F_SLOW_NS], fconfig[F_FAST_NS]])
    unit = np.array([fconfig[F_UNIT_SLOW], fconfig[F_UNIT_FAST]])
    # access_slack_ns: while the clock is ahead of the accesses' own time (PF_LAG_NS), accesses
    # are served with ``latency - absorb``, ``absorb`` each, until the lag is paid back
    slack = min(pconfig[P_SLACK_NS], latency[0], latency[1])
    catching_up = np.empty(2)
    n = trace.shape[0]
    row = 0
    now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
    next_scan = pfstate[PF_NEXT_SCAN_NS]
    next_event = _next_event(next_scan, pstate, pfstate)
    accesses = 0
    hits = 0
    j = 0
    while j < n:
        lag = pfstate[PF_LAG_NS]
        if slack > 0 and lag > 0:
            # the accesses that pay the lag back: ``slack`` each while the lag is at least that
            # (counted as they subtract it, one by one), else the rest of it in one; at most
            # SLACK_RUN of them at a time (the loop comes back for the rest), so that a lag of
            # seconds (a fill whose first touches are charged) is not counted out at every event
            absorb = min(slack, lag)
            k = 0
            left = lag
            while left >= slack and k < SLACK_RUN:
                left -= slack
                k += 1
            catching_up[0] = latency[0] - absorb
            catching_up[1] = latency[1] - absorb
            before = accesses
            j, needs_policy, n_touched, accesses, hits, now, remaining = serve_until(
                trace, j, min(n, j + max(k, 1)), PRESENT | ARMED, flags, counts, touched, catching_up, unit,
                next_event, n_touched, accesses, hits, now, remaining, SERVE_AHEAD, ARMED, (scan_ms, referenced))
            for _ in range(accesses - before):
                lag -= absorb
            pfstate[PF_LAG_NS] = lag
        else:
            j, needs_policy, n_touched, accesses, hits, now, remaining = serve_until(
                trace, j, n, PRESENT | ARMED, flags, counts, touched, latency, unit, next_event, n_touched, accesses,
                hits, now, remaining, SERVE_AHEAD, ARMED, (scan_ms, referenced))
        if needs_policy:  # a first touch, or an armed page's hint fault; then served as any
            page = trace[j]
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            charged_from = now
            if pstate[PS_KSWAPD_AWAKE] != 0 and pfstate[PF_KSWAPD_NS] <= fstate[FS_NOW_NS]:  # (_kswapd_until's test:
                # kept here, a call per event to a helper of 16 arrays cost the runs a tenth of their speed)
                _kswapd_until(fstate[FS_NOW_NS], pconfig, config, fconfig, migrate_cost, flags, ring, meta, state,
                              fstate, pstate, pfstate, pagestat, nxt, pending, referenced)
            if flags[page] == 0:
                new_table = False
                if pgtable_wake or pgtable_pages:
                    block = page // align
                    new_table = pgtable[block] == 0  # __pte_alloc: a GFP_KERNEL page, node 0 only
                    pgtable[block] = 1
                if pgtable_wake:
                    if new_table and _zone_above(config, state, pconfig, pstate, low, low_zone_low) < 0:
                        # no zone at low: the slow path wakes kswapd
                        _kswapd_wake(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate,
                                     pstate, pfstate, pagestat, nxt, pending, referenced)
                elif capacity - state[S_FAST_USED] - pstate[PS_KERNEL_USED] - pstate[PS_PCP] <= wake:
                    # the allocation wakes kswapd (tpp, or the earlier rule)
                    _kswapd_wake(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate,
                                 pfstate, pagestat, nxt, pending, referenced)
                reclaim_ns = 0.0
                if new_table and pgtable_pages:  # the page table's page, taken before the user page
                    reclaim_ns = _kernel_page(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state,
                                              fstate, pstate, pagestat, nxt, pending, referenced)
                    fstate[FS_NOW_NS] += reclaim_ns
                slow_full = state[S_SLOW_USED] >= slow_capacity
                zone = _zone_above(config, state, pconfig, pstate, floor, low_zone_floor)
                fast = zone >= 0 or slow_full
                if pgtable_wake and slow_full and _zone_above(config, state, pconfig, pstate, low, low_zone_low) < 0:
                    # neither node passes the fast path: __alloc_pages_slowpath wakes kswapd
                    _kswapd_wake(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate,
                                 pfstate, pagestat, nxt, pending, referenced)
                allocate_first_touch(page, fast, flags, state, config)
                task_ns = pconfig[P_TOUCH_NS]
                if task_ns != 0:  # do_anonymous_page: the allocating fault, on the task's clock
                    fstate[FS_NOW_NS] += task_ns
                task_ns += reclaim_ns
                if fast:
                    if zone == 1:  # zone -1 (the slow node full): the main zone
                        _take_zone(page, referenced, pstate)
                    elif pconfig[P_PCP_HIGH] != 0:
                        _pcp_take(False, pconfig, pstate)
                    push_head(FAST_INACTIVE, page, ring, meta)
            else:
                decision = _hint_fault(page, pconfig, config, flags, scan_ms, referenced, state, fstate, pstate,
                                       pending)
                task_ns = pconfig[P_FAULT_NS]  # the fault, the task's own time (kswapd's rounds are not)
                if decision == FAULT_PROMOTES:
                    task_ns = _promote(page, pconfig, config, fconfig, migrate_cost, flags, ring, meta, referenced,
                                       state, fstate, pstate, pfstate, pagestat, nxt, pending)
                elif decision == FAULT_WAKES:  # numamigrate_isolate_page: wakeup_kswapd
                    _kswapd_wake(pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate,
                                 pfstate, pagestat, nxt, pending, referenced)
            if pconfig[P_CFS_SLOW] != 0 and pstate[PS_KSWAPD_AWAKE] != 0:
                # the task's work took the CPU it shared with kswapd (CFS): share / (1 - share) as long
                # again.  Only the task's own (the fault, the move): kswapd's rounds done here are charged
                # to the run by the stated simplification, and are kswapd's time, not the task's
                fstate[FS_NOW_NS] += task_ns * pconfig[P_CFS_SLOW]
            next_scan = pfstate[PF_NEXT_SCAN_NS]  # kswapd on the task's CPU, or a placement, may have moved it
            now = fstate[FS_NOW_NS]
            if slack > 0:
                pfstate[PF_LAG_NS] += now - charged_from
            next_event = _next_event(next_scan, pstate, pfstate)
            continue
        last = final and j == n
        if now >= next_event or remaining <= 0 or last:
            flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
            accesses = hits = 0
            charged_from = now
            if pstate[PS_KSWAPD_AWAKE] != 0 and pfstate[PF_KSWAPD_NS] <= now:
                _kswapd_until(now, pconfig, config, fconfig, migrate_cost, flags, ring, meta, state, fstate, pstate,
                              pfstate, pagestat, nxt, pending, referenced)
            next_scan = pfstate[PF_NEXT_SCAN_NS]
            if now >= next_scan:
                scan_ns = _scan(pconfig, flags, scan_ms, fstate, pstate, pending)
                if pconfig[P_TICK_GATE] != 0:
                    # task_numa_work: numa_next_scan = now + the period, then node_stamp += 2 ticks
                    # and 32 x the scan's time (the node_stamp the tick moved on is taken as now)
                    pfstate[PF_DUE_NS] = now + pfstate[PF_PERIOD_MS] * 1e6
                    pfstate[PF_STAMP_NS] = (now + pconfig[P_STAMP_TICKS_NS]
                                            + pconfig[P_SCAN_LIMIT] * _scan_runtime(scan_ns, pconfig))
                    _tick_gate(pfstate)
                    next_scan = pfstate[PF_NEXT_SCAN_NS]
                else:
                    # task_numa_work: node_stamp += 32 x the scan's time, on top of the period
                    next_scan = (fstate[FS_NOW_NS] + pfstate[PF_PERIOD_MS] * 1e6
                                 + pconfig[P_SCAN_LIMIT] * _scan_runtime(scan_ns, pconfig))
                    pfstate[PF_NEXT_SCAN_NS] = next_scan
            if fstate[FS_REMAINING] <= 0 or last:
                end_period(row, config, fconfig, flags, counts, touched, histogram, top, state, moved, pagestat, judged,
                       nxt, fstate, pending, out)
                row += 1
            now, remaining, n_touched = fstate[FS_NOW_NS], fstate[FS_REMAINING], state[S_TOUCHED]
            if slack > 0:
                pfstate[PF_LAG_NS] += now - charged_from
            next_event = _next_event(next_scan, pstate, pfstate)
    flush_loop_state(accesses, hits, now, remaining, n_touched, state, fstate, pending)
    return row
