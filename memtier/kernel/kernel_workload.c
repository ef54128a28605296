/* The workload that memtier kernel-check runs in the guest (see memtier/kernel/check.py).
 *
 *   kernel_workload KIND TOTAL_PAGES HOT_PAGES SECONDS RATE SLOT_US CHECKPOINT_MS SEED ALPHA OUT
 *
 * KIND is hot_set, phase or zipf.  One anonymous mapping of TOTAL_PAGES 4 KiB pages
 * (MADV_NOHUGEPAGE: the guest kernel makes THPs by default, the simulator moves 4 KiB pages)
 * is accessed as one stream of RATE accesses a second of guest time, SLOT_US microseconds at a
 * time: at the start of slot s the program does its RATE x SLOT_US / 1e6 accesses, then spins
 * (no sleep: NUMA balancing's scanner runs on the task's CPU time, task_tick_numa, so the task
 * must stay on the CPU for its scan period to be one of wall time) until slot s + 1 is due.
 * The stream is a pure function of the access number (and SEED), so the host generates the
 * same one (memtier.kernel.workload.access_stream); a digest of it is written at every
 * checkpoint to show that it did:
 *
 *   - the first TOTAL_PAGES accesses write each page once, in order (the fill);
 *   - hot_set: then pages TOTAL - HOT .. TOTAL - 1, round and round;
 *   - phase: the same until half of SECONDS, then pages 0 .. HOT - 1 round and round;
 *   - zipf: a page drawn with probability proportional to 1 / rank^ALPHA, ranks given to pages
 *     by a SEEDed shuffle; the HOT pages of the lowest ranks are its hot set;
 *   - trace (built with -DTRACE_WORKLOAD, one more argument TRACE_FILE): then the pages of a
 *     recorded trace, round and round, its hot set the one the file names (read_trace).
 *
 * Every CHECKPOINT_MS of the stream's time, one CSV row: the nominal time, the guest's
 * CLOCK_MONOTONIC and CPU time since the start, the largest lag of a slot behind its time
 * since the last row, the task's CPU time in its slots' accesses (work_s, cumulative: the accesses
 * themselves, and the page faults they take, hint faults and promotions included, which run in the
 * task's context; not the spinning, nor kswapd's time), how many hot and cold pages are on node 0 and node 1 (from
 * /proc/self/pagemap: the page frame number, placed in a node by the memory blocks under
 * /sys/devices/system/node/node1), and /proc/vmstat's tiering counters (built with -DVMSCAN_COUNTERS
 * also kswapd's reclaim counters and node 0's zones and lists: COUNTERS, node0_state).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double now_s(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void die(const char *what) {
    fprintf(stderr, "kernel_workload: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Each node's free pages and LRU lists from /proc/zoneinfo, exactly: the kernel's counters are
 * per-CPU deltas folded in now and then (/sys/devices/system/node/node0/meminfo and zoneinfo read
 * them as they are), so /proc/sys/vm/stat_refresh is written first (root only; elsewhere the
 * lines are as close as the counters are). */
static void node_lines(FILE *out, const char *when) {
    static const char *NAMES[] = {"nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file",
                                  "nr_unevictable"};
    unsigned long long free[4] = {0}, pcp[4] = {0}, lru[4][5] = {{0}}, v;
    char line[256], name[64];
    int node = -1;
    FILE *f = fopen("/proc/sys/vm/stat_refresh", "w");
    if (f) {
        fputs("1\n", f);
        fclose(f);
    }
    if (!(f = fopen("/proc/zoneinfo", "r"))) return;
    while (fgets(line, sizeof line, f)) {
        int n;
        if (sscanf(line, "Node %d, zone", &n) == 1) node = n >= 0 && n < 4 ? n : -1;
        else if (node >= 0 && sscanf(line, " pages free %llu", &v) == 1) free[node] += v;
        else if (node >= 0 && sscanf(line, " count: %llu", &v) == 1) pcp[node] += v;
        else if (node >= 0 && sscanf(line, " %63s %llu", name, &v) == 2)
            for (int i = 0; i < 5; i++)
                if (!strcmp(name, NAMES[i])) lru[node][i] = v;
    }
    fclose(f);
    for (int n = 0; n < 2; n++)
        fprintf(out, "# node %d %s (zoneinfo): %llu pages free, %llu on per-CPU lists; inactive/active anon %llu %llu, file %llu %llu, "
                     "unevictable %llu\n", n, when, free[n], pcp[n], lru[n][0], lru[n][1], lru[n][2], lru[n][3], lru[n][4]);
}

/* Node 0's zone that user pages come from (the one with the most pages free: DMA32 in the
 * guest; DMA is kept for DMA by lowmem_reserve): its free pages in the buddy lists plus those on
 * its per-CPU lists, which an allocation takes first (mm/page_alloc.c, rmqueue_pcplist).
 * Read exactly (stat_refresh first); 0 if /proc/zoneinfo cannot be read. */
static uint64_t node0_zone_free(uint64_t *buddy, uint64_t *percpu) {
    char line[256];
    uint64_t best_free = 0, best_pcp = 0, free = 0, pcp = 0, v;
    int node = -1;
    FILE *f = fopen("/proc/sys/vm/stat_refresh", "w");
    if (f) {
        fputs("1\n", f);
        fclose(f);
    }
    if (!(f = fopen("/proc/zoneinfo", "r"))) return 0;
    while (1) {
        char *got = fgets(line, sizeof line, f);
        int n;
        if (!got || sscanf(line, "Node %d, zone", &n) == 1) { /* a zone ends */
            if (node == 0 && free > best_free) best_free = free, best_pcp = pcp;
            if (!got) break;
            node = n, free = pcp = 0;
        } else if (sscanf(line, " pages free %llu", (unsigned long long *)&v) == 1) free = v;
        else if (sscanf(line, " count: %llu", (unsigned long long *)&v) == 1) pcp += v;
    }
    fclose(f);
    *buddy = best_free, *percpu = best_pcp;
    return best_free + best_pcp;
}

/* KERNEL_WORKLOAD_MOVE_OTHERS: every other process's pages on node 0 go to node 1
 * (migrate_pages(2); root moves shared pages too), so that node 0's LRU lists hold none of the
 * boot's pages, whose number differs by a few from boot to boot.  Returns the processes moved. */
static int move_others(void) {
    DIR *d = opendir("/proc");
    if (!d) die("/proc");
    struct dirent *e;
    int moved = 0;
    long self = (long)getpid();
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self) continue;
        unsigned long from = 1UL, to = 2UL; /* node 0 -> node 1 */
        if (syscall(SYS_migrate_pages, pid, 8 * sizeof from, &from, &to) >= 0) moved++; /* kernel threads: EINVAL */
    }
    closedir(d);
    return moved;
}

/* KERNEL_WORKLOAD_NODE0_FREE=N: a ballast of locked pages on node 0 that leaves exactly N pages
 * free in node0_zone_free's zone when the accesses start, whatever the boot left there.  Locked
 * pages sit on the unevictable list (kswapd neither demotes nor scans them), and the region is
 * bound to node 0 with MPOL_BIND, whose policy lacks MPOL_F_MOF, so task_numa_work skips it
 * (vma_policy_mof): to the kernel, node 0 is N pages smaller, as memtier's side is told (it reads
 * the free pages at the start).  The region's address range has one size in every run, so the
 * mappings made after it are at the same addresses. */
#define BALLAST_MAX (1UL << 17) /* pages: 512 MB of address space */
static unsigned char *ballast;
static uint64_t ballast_pages;

static void ballast_to(uint64_t target) {
    if (!ballast) {
        ballast = mmap(0, BALLAST_MAX * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (ballast == MAP_FAILED) die("mmap (ballast)");
        if (madvise(ballast, BALLAST_MAX * PAGE, MADV_NOHUGEPAGE)) die("madvise (ballast)"); /* page by page */
        unsigned long node0 = 1UL;
        if (syscall(SYS_mbind, ballast, BALLAST_MAX * PAGE, 2 /* MPOL_BIND */, &node0, 8 * sizeof node0, 0))
            die("mbind (ballast)");
    }
    for (int round = 0; round < 64; round++) {
        uint64_t buddy, pcp, have = node0_zone_free(&buddy, &pcp);
        if (have == target) return;
        if (have > target) {
            uint64_t more = have - target;
            if (ballast_pages + more > BALLAST_MAX) break;
            if (mlock(ballast + ballast_pages * PAGE, more * PAGE)) die("mlock (ballast)");
            ballast_pages += more;
        } else {
            uint64_t fewer = target - have < ballast_pages ? target - have : ballast_pages;
            if (fewer == 0) {
                fprintf(stderr, "kernel_workload: node 0 has %llu pages free, fewer than KERNEL_WORKLOAD_NODE0_FREE=%llu; "
                                "give a smaller number\n", (unsigned long long)have, (unsigned long long)target);
                exit(2);
            }
            unsigned char *tail = ballast + (ballast_pages - fewer) * PAGE;
            if (munlock(tail, fewer * PAGE) || madvise(tail, fewer * PAGE, MADV_DONTNEED)) die("munlock (ballast)");
            ballast_pages -= fewer;
        }
    }
    fprintf(stderr, "kernel_workload: the ballast did not leave node 0 with %llu pages free (the kernel kept "
                    "allocating); %llu pages locked\n", (unsigned long long)target, (unsigned long long)ballast_pages);
    exit(2);
}

/* KERNEL_WORKLOAD_ZONEINFO=PATH: /proc/zoneinfo as it is now (exactly: stat_refresh first), for
 * memtier's side to read node 0's free pages from. */
static void copy_zoneinfo(const char *path) {
    static char text[1 << 20];
    uint64_t buddy, pcp;
    node0_zone_free(&buddy, &pcp); /* stat_refresh */
    FILE *f = fopen("/proc/zoneinfo", "r");
    if (!f) die("/proc/zoneinfo");
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    if (!(f = fopen(path, "w")) || fwrite(text, 1, n, f) != n || fclose(f)) die(path);
}

/* Node 1's page frames: one range per memory block of node 1. */
static uint64_t ranges[512][2];
static int n_ranges;

static void node1_ranges(void) {
    FILE *f = fopen("/sys/devices/system/memory/block_size_bytes", "r");
    unsigned long long block = 0;
    if (!f || fscanf(f, "%llx", &block) != 1) die("block_size_bytes");
    fclose(f);
    DIR *d = opendir("/sys/devices/system/node/node1");
    if (!d) return; /* one node: every page is on node 0 */
    struct dirent *e;
    while ((e = readdir(d)) && n_ranges < 512) {
        unsigned long long id;
        if (sscanf(e->d_name, "memory%llu", &id) == 1) {
            ranges[n_ranges][0] = id * block / PAGE;
            ranges[n_ranges][1] = (id + 1) * block / PAGE;
            n_ranges++;
        }
    }
    closedir(d);
}

static int on_node1(uint64_t pfn) {
    for (int i = 0; i < n_ranges; i++)
        if (pfn >= ranges[i][0] && pfn < ranges[i][1]) return 1;
    return 0;
}

#ifdef VMSCAN_COUNTERS
/* Built with -DVMSCAN_COUNTERS (kernel-check --vmscan-counters): besides the tiering counters,
 * kswapd's reclaim counters (mm/vmscan.c, 6.1): pages moved between the LRU lists (pgactivate:
 * to the active list, pgdeactivate and pgrefill: from it), balance_pgdat's runs (pageoutrun) and
 * how kswapd went to sleep (kswapd_try_to_sleep: woken within its short sleep,
 * low_wmark_hit_quickly; not balanced when it tried, high_wmark_hit_quickly), migrations that
 * failed and direct reclaim; then node 0's state (node0_state).  Off by default: under -icount
 * a run repeats to the byte only with the same binary, and the kernel's tiering of a large fill
 * moves with a few microseconds of the program's work (README), so the default build is the
 * one the committed runs used, token for token. */
static const char *COUNTERS[] = {"pgpromote_success", "pgpromote_candidate", "pgdemote_kswapd", "pgdemote_direct",
                                 "numa_pte_updates", "numa_hint_faults", "numa_pages_migrated", "pgsteal_kswapd",
                                 "pgscan_kswapd", "pgactivate", "pgdeactivate", "pgrefill", "pageoutrun",
                                 "kswapd_low_wmark_hit_quickly", "kswapd_high_wmark_hit_quickly", "pgmigrate_fail",
                                 "pgscan_direct"};

/* Node 0's state at a checkpoint, from /proc/zoneinfo as the kernel's counters stand (no
 * stat_refresh: per-CPU deltas of up to a zone's stat threshold are not folded in): the free
 * pages of its first two zones (DMA, DMA32) in the buddy lists, the pages on its per-CPU lists,
 * and its inactive and active anonymous LRU lists. */
#define N_ZONE_COLUMNS 5
static const char *ZONE_COLUMNS[N_ZONE_COLUMNS] = {"n0_dma_free", "n0_dma32_free", "n0_pcp", "n0_inactive_anon",
                                                   "n0_active_anon"};
static void node0_state(unsigned long long *values) {
    char line[256], name[64];
    unsigned long long v;
    int node = -1, zone = -1;
    memset(values, 0, N_ZONE_COLUMNS * sizeof *values);
    FILE *f = fopen("/proc/zoneinfo", "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        int n;
        if (sscanf(line, "Node %d, zone", &n) == 1) node = n, zone++;
        else if (node != 0) continue;
        else if (sscanf(line, " pages free %llu", &v) == 1) { if (zone < 2) values[zone] = v; }
        else if (sscanf(line, " count: %llu", &v) == 1) values[2] += v;
        else if (sscanf(line, " %63s %llu", name, &v) == 2) {
            if (!strcmp(name, "nr_inactive_anon")) values[3] = v;
            else if (!strcmp(name, "nr_active_anon")) values[4] = v;
        }
    }
    fclose(f);
}
#else
static const char *COUNTERS[] = {"pgpromote_success", "pgpromote_candidate", "pgdemote_kswapd", "pgdemote_direct",
                                 "numa_pte_updates", "numa_hint_faults", "numa_pages_migrated", "pgsteal_kswapd",
                                 "pgscan_kswapd"};
#endif
#define N_COUNTERS (sizeof COUNTERS / sizeof COUNTERS[0])

static void vmstat(unsigned long long *values) {
    char name[128];
    unsigned long long v;
    FILE *f = fopen("/proc/vmstat", "r");
    if (!f) die("/proc/vmstat");
    memset(values, 0, N_COUNTERS * sizeof *values);
    while (fscanf(f, "%127s %llu", name, &v) == 2)
        for (size_t i = 0; i < N_COUNTERS; i++)
            if (!strcmp(name, COUNTERS[i])) values[i] = v;
    fclose(f);
}

#ifdef TRACE_WORKLOAD
/* The trace build (kernel-check --workload trace; the default binary stays the one of the committed
 * runs, byte for byte).  TRACE_FILE, as memtier.kernel.workload.trace_file_bytes writes it: the 8 bytes
 * "MTTRACE1", the trace's length L and the mapping's pages (little-endian uint64 each), L page
 * numbers (uint32, each below the mapping's pages), then one byte a page of the mapping, 1 for
 * the hot set.  The hot flags go to HOT (TOTAL bytes); the pages are returned (malloc'ed). */
static uint32_t *read_trace(const char *path, uint64_t total, unsigned char *hot, uint64_t *length) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    char magic[8];
    uint64_t head[2];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "MTTRACE1", 8) || fread(head, 8, 2, f) != 2) {
        fprintf(stderr, "kernel_workload: %s is not a trace file written by memtier kernel-check\n", path);
        exit(2);
    }
    if (head[0] == 0 || head[1] != total) {
        fprintf(stderr, "kernel_workload: %s holds %llu accesses over %llu pages; the command line says %llu pages\n",
                path, (unsigned long long)head[0], (unsigned long long)head[1], (unsigned long long)total);
        exit(2);
    }
    uint32_t *pages = malloc(head[0] * sizeof *pages);
    if (!pages) die("malloc");
    if (fread(pages, sizeof *pages, head[0], f) != head[0] || fread(hot, 1, total, f) != total) {
        fprintf(stderr, "kernel_workload: %s ends early\n", path);
        exit(2);
    }
    for (uint64_t i = 0; i < head[0]; i++)
        if (pages[i] >= total) {
            fprintf(stderr, "kernel_workload: %s: access %llu is to page %u, outside the mapping's %llu pages\n",
                    path, (unsigned long long)i, pages[i], (unsigned long long)total);
            exit(2);
        }
    fclose(f);
    *length = head[0];
    return pages;
}
#endif

int main(int argc, char **argv) {
#ifdef TRACE_WORKLOAD
    if (argc != 12) {
        fprintf(stderr, "usage: kernel_workload KIND TOTAL_PAGES HOT_PAGES SECONDS RATE SLOT_US CHECKPOINT_MS "
                        "SEED ALPHA OUT TRACE_FILE\n");
        return 2;
    }
    int trace = !strcmp(argv[1], "trace");
    if (!trace) {
        fprintf(stderr, "kernel_workload: this build runs KIND trace only, got %s\n", argv[1]);
        return 2;
    }
#else
    if (argc != 11) {
        fprintf(stderr, "usage: kernel_workload KIND TOTAL_PAGES HOT_PAGES SECONDS RATE SLOT_US CHECKPOINT_MS "
                        "SEED ALPHA OUT\n");
        return 2;
    }
#endif
    const char *kind = argv[1];
    uint64_t total = strtoull(argv[2], 0, 10), hot = strtoull(argv[3], 0, 10);
    double seconds = atof(argv[4]), rate = atof(argv[5]);
    uint64_t slot_us = strtoull(argv[6], 0, 10), checkpoint_ms = strtoull(argv[7], 0, 10);
    uint64_t seed = strtoull(argv[8], 0, 10);
    double alpha = atof(argv[9]);
    int zipf = !strcmp(kind, "zipf"), phase = !strcmp(kind, "phase");
#ifndef TRACE_WORKLOAD /* the trace build checked its KIND above */
    if (!zipf && !phase && strcmp(kind, "hot_set")) {
        fprintf(stderr, "kernel_workload: KIND must be hot_set, phase or zipf, got %s\n", kind);
        return 2;
    }
#endif
    if (total == 0 || hot == 0 || hot > total || slot_us == 0 || checkpoint_ms == 0 || rate <= 0) {
        fprintf(stderr, "kernel_workload: bad sizes or rates\n");
        return 2;
    }
    uint64_t per_slot = (uint64_t)llround(rate * slot_us * 1e-6);
    uint64_t slots = (uint64_t)llround(seconds * 1e6 / slot_us);
    uint64_t slots_per_checkpoint = checkpoint_ms * 1000 / slot_us;
    uint64_t switch_at = (slots / 2) * per_slot; /* phase: the access number where the hot set moves */
    FILE *out = fopen(argv[10], "w");
    if (!out) die(argv[10]);
    node1_ranges();

    /* zipf: ranks -> pages by a shuffle, and the cumulative weights of the ranks */
    uint32_t *page_of_rank = 0;
    double *cdf = 0;
    uint64_t rng = seed;
    if (zipf) {
        page_of_rank = malloc(total * sizeof *page_of_rank);
        cdf = malloc(total * sizeof *cdf);
        if (!page_of_rank || !cdf) die("malloc");
        for (uint64_t i = 0; i < total; i++) page_of_rank[i] = (uint32_t)i;
        for (uint64_t i = total - 1; i > 0; i--) { /* Fisher-Yates, from the end */
            uint64_t j = splitmix64(&rng) % (i + 1);
            uint32_t t = page_of_rank[i];
            page_of_rank[i] = page_of_rank[j];
            page_of_rank[j] = t;
        }
        double sum = 0;
        for (uint64_t r = 0; r < total; r++) {
            sum += 1.0 / pow((double)(r + 1), alpha);
            cdf[r] = sum;
        }
    }
    unsigned char *is_hot = calloc(total, 1);
    uint64_t *pagemap = malloc(total * sizeof *pagemap);
    if (!is_hot || !pagemap) die("malloc");
#ifdef NODE_MAP
    /* Built with -DNODE_MAP (kernel-check --node-map): where every page is at every checkpoint,
     * two bits a page (0 node 0, 1 node 1, 2 absent; page p in byte p / 4, bits 2 x (p % 4)),
     * a checkpoint's map after the one before, (TOTAL_PAGES + 3) / 4 bytes each, written to the
     * file KERNEL_WORKLOAD_NODE_MAP names at the end.  Kept in memory until then, bound to
     * node 1 and locked (mbind MPOL_BIND, mlock), so that it takes no room on node 0 and kswapd
     * never sees it.  Another binary, so another run under -icount. */
    size_t map_bytes = (total + 3) / 4, n_maps = 0, max_maps = slots / slots_per_checkpoint;
    size_t map_size = (max_maps * map_bytes + PAGE - 1) / PAGE * PAGE;
    unsigned char *node_map = mmap(0, map_size ? map_size : PAGE, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (node_map == MAP_FAILED) die("mmap");
    unsigned long node1_mask = 2;
    if (syscall(SYS_mbind, node_map, map_size, 2 /* MPOL_BIND */, &node1_mask, 8 * sizeof node1_mask, 0))
        fprintf(out, "# the node map is NOT bound to node 1 (mbind: %s)\n", strerror(errno));
    if (mlock(node_map, map_size))
        fprintf(out, "# the node map is NOT locked in memory (mlock: %s)\n", strerror(errno));
    memset(node_map, 0, map_size);
#endif
#ifdef TRACE_WORKLOAD
    /* the trace and its hot set, read before the start (their pages are node 0's at the start, as
     * zipf's tables are); the file itself removed when asked (the guest's copy is in its RAM file
     * system, whose pages kswapd would demote first) */
    uint64_t trace_length = 0;
    unsigned char *trace_hot = malloc(total);
    if (!trace_hot) die("malloc");
    uint32_t *trace_pages = read_trace(argv[11], total, trace_hot, &trace_length);
    if (getenv("KERNEL_WORKLOAD_REMOVE_TRACE") && unlink(argv[11])) die(argv[11]);
    /* Locked: the program reads the trace as it replays it (4 bytes an access, a page every 1024),
     * and unlocked its pages, older than the fill's, would be the first kswapd demotes and would
     * then come back by hint faults, promotions that are not the trace's (mlock'ed pages are on
     * the unevictable list, and in tiering mode the scanner does not arm node 0's pages) */
    if (mlock(trace_pages, trace_length * sizeof *trace_pages) || mlock(trace_hot, total))
        fprintf(out, "# the trace is NOT locked in memory (mlock: %s)\n", strerror(errno));
    else
        fprintf(out, "# the trace is locked in memory (mlock): %llu accesses\n", (unsigned long long)trace_length);
#endif

    /* The mapping starts on a 2 MB boundary: page p of it is then in the page table (and the PMD)
     * of pages p / 512 x 512 .. + 511, and task_numa_work's scan windows end on 2 MB boundaries
     * (ALIGN(start + pages, HPAGE_SIZE)) at the same page numbers in every run, as memtier's
     * numa-balancing takes them (its pgtable_wakes_kswapd and scan windows count from page 0).
     * Where an unaligned mapping lands depends on the address the kernel picks, which ASLR
     * draws anew each run (kernel-check also turns ASLR off in the guest). */
    size_t length = total * PAGE, extra = 2UL << 20;
    unsigned char *raw = mmap(0, length + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) die("mmap");
    uintptr_t aligned = ((uintptr_t)raw + extra - 1) & ~(uintptr_t)(extra - 1);
    if (aligned > (uintptr_t)raw && munmap(raw, aligned - (uintptr_t)raw)) die("munmap");
    if ((uintptr_t)raw + length + extra > aligned + length
        && munmap((void *)(aligned + length), (uintptr_t)raw + length + extra - (aligned + length)))
        die("munmap");
    volatile unsigned char *base = (volatile unsigned char *)aligned;
    if (madvise((void *)base, total * PAGE, MADV_NOHUGEPAGE)) die("madvise");
    int pm = open("/proc/self/pagemap", O_RDONLY);
    if (pm < 0) die("/proc/self/pagemap");

    fprintf(out, "# mapping at 0x%lx (%lu pages)\n", (unsigned long)aligned, (unsigned long)total);
    fprintf(out, "nominal_s,guest_s,cpu_s,work_s,max_lag_ms,accesses,digest,fast_hot,fast_cold,slow_hot,slow_cold,absent");
    for (size_t i = 0; i < N_COUNTERS; i++) fprintf(out, ",%s", COUNTERS[i]);
#ifdef VMSCAN_COUNTERS
    for (size_t i = 0; i < N_ZONE_COLUMNS; i++) fprintf(out, ",%s", ZONE_COLUMNS[i]);
    unsigned long long zone_values[N_ZONE_COLUMNS];
#endif
    fprintf(out, "\n");
    unsigned long long start_counters[N_COUNTERS], counters[N_COUNTERS];

    /* Start on a whole minute of the guest's clock.  The kernel's periodic work runs on timers
     * set from boot (vmstat_update and the scheduler's balancing rounded to whole seconds,
     * khugepaged every 10 s), and the boot's length differs from run to run (its 9p reads end
     * when the host serves them: 57 to 83 s of guest time in six runs), so a start relative to
     * the boot meets that work at another point of the fill; a whole minute is a whole number of
     * those periods.  Under -icount with sleep=off the wait costs no host time (an idle guest's
     * clock jumps to its next timer).  KERNEL_WORKLOAD_ALIGN_S in the environment gives another
     * period in seconds (0: start at once, as the tests on the host do). */
    node_lines(out, "when ready");
    if (getenv("KERNEL_WORKLOAD_MOVE_OTHERS"))
        fprintf(out, "# moved the pages of %d other processes from node 0 to node 1\n", move_others());
    if (getenv("KERNEL_WORKLOAD_COMPACT")) { /* the free pages left by the boot and the moves, merged */
        FILE *f = fopen("/proc/sys/vm/compact_memory", "w");
        if (!f || fputs("1\n", f) < 0 || fclose(f)) die("/proc/sys/vm/compact_memory");
        fprintf(out, "# compacted memory\n");
    }
    const char *free_env = getenv("KERNEL_WORKLOAD_NODE0_FREE");
    if (free_env) {
        ballast_to(strtoull(free_env, 0, 10));
        fprintf(out, "# ballast: %llu pages locked on node 0, leaving %s pages free there\n",
                (unsigned long long)ballast_pages, free_env);
    }
    if (getenv("KERNEL_WORKLOAD_ZONEINFO")) copy_zoneinfo(getenv("KERNEL_WORKLOAD_ZONEINFO"));
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    fprintf(out, "# ready at %.6f s of the guest's CLOCK_MONOTONIC\n", start.tv_sec + start.tv_nsec * 1e-9);
    const char *align_env = getenv("KERNEL_WORKLOAD_ALIGN_S"); /* tests on the host: 0, no wait */
    long align = align_env ? atol(align_env) : 60;
    if (align > 0) {
        start.tv_sec = (start.tv_sec / align + 1) * align;
        start.tv_nsec = 0;
    }
#ifdef START_OFFSET_US
    /* Built with -DSTART_OFFSET_US=N (kernel-check --kernel-runs): start N microseconds after the
     * minute, so that the same accesses meet the kernel's ticks (4 ms at Debian's HZ=250) and its
     * periodic work at another phase.  Only in that build: the default binary stays the one of the
     * committed runs, byte for byte. */
    {
        uint64_t ns = (uint64_t)start.tv_nsec + (uint64_t)(START_OFFSET_US) * 1000ULL;
        start.tv_sec += ns / 1000000000ULL;
        start.tv_nsec = ns % 1000000000ULL;
    }
#endif
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &start, 0) == EINTR)
        ;
    vmstat(start_counters);
#ifdef START_OFFSET_US
    fprintf(out, "# accesses start at %.6f s of the guest's CLOCK_MONOTONIC (%llu us after the minute)\n",
            start.tv_sec + start.tv_nsec * 1e-9, (unsigned long long)(START_OFFSET_US));
#endif
    node_lines(out, "at the start");
    if (free_env) {
        uint64_t buddy, pcp;
        node0_zone_free(&buddy, &pcp);
        fprintf(out, "# node 0 at the start: %llu pages free in the buddy lists and %llu on per-CPU lists "
                     "(ballast's zone)\n", (unsigned long long)buddy, (unsigned long long)pcp);
    }
    uint64_t j = 0, digest = 0;
    double lag = 0, work = 0, t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (uint64_t s = 0; s < slots; s++) {
        double due = t0 + s * slot_us * 1e-6, now;
        while ((now = now_s(CLOCK_MONOTONIC)) < due)
            ;
        if (now - due > lag) lag = now - due;
        double w0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        for (uint64_t a = 0; a < per_slot; a++, j++) {
            uint64_t page;
            if (j < total) {
                page = j;
            } else if (zipf) {
                double u = (double)(splitmix64(&rng) >> 11) * 0x1.0p-53 * cdf[total - 1];
                uint64_t lo = 0, hi = total - 1; /* the first rank whose cdf exceeds u */
                while (lo < hi) {
                    uint64_t mid = (lo + hi) / 2;
                    if (cdf[mid] > u) hi = mid; else lo = mid + 1;
                }
                page = page_of_rank[lo];
#ifdef TRACE_WORKLOAD
            } else if (trace) {
                page = trace_pages[(j - total) % trace_length];
#endif
            } else if (phase && j >= switch_at) {
                page = (j - switch_at) % hot;
            } else {
                page = total - hot + (j - total) % hot;
            }
            base[page * PAGE]++;
            digest = digest * 0x100000001B3ULL + page + 1;
        }
        work += now_s(CLOCK_THREAD_CPUTIME_ID) - w0;
        if ((s + 1) % slots_per_checkpoint == 0) {
            memset(is_hot, 0, total);
            if (zipf) {
                for (uint64_t r = 0; r < hot; r++) is_hot[page_of_rank[r]] = 1;
#ifdef TRACE_WORKLOAD
            } else if (trace) {
                memcpy(is_hot, trace_hot, total);
#endif
            } else if (phase && j > switch_at) {
                memset(is_hot, 1, hot);
            } else {
                memset(is_hot + total - hot, 1, hot);
            }
            size_t want = total * sizeof *pagemap;
            off_t off = (off_t)((uintptr_t)base / PAGE * sizeof *pagemap);
            if (pread(pm, pagemap, want, off) != (ssize_t)want) die("reading /proc/self/pagemap");
            uint64_t count[2][2] = {{0, 0}, {0, 0}}, absent = 0;
#ifdef NODE_MAP
            unsigned char *map = n_maps < max_maps ? node_map + n_maps++ * map_bytes : 0;
#endif
            for (uint64_t p = 0; p < total; p++) {
                uint64_t e = pagemap[p];
                if (!(e >> 63)) {
                    absent++;
#ifdef NODE_MAP
                    if (map) map[p >> 2] |= (unsigned char)(2 << (2 * (p & 3)));
#endif
                    continue;
                }
                uint64_t pfn = e & ((1ULL << 55) - 1);
                count[on_node1(pfn)][is_hot[p]]++;
#ifdef NODE_MAP
                if (map) map[p >> 2] |= (unsigned char)(on_node1(pfn) << (2 * (p & 3)));
#endif
            }
            vmstat(counters);
            fprintf(out, "%.3f,%.6f,%.6f,%.6f,%.3f,%llu,%llu,%llu,%llu,%llu,%llu,%llu", (s + 1) * slot_us * 1e-6,
                    now_s(CLOCK_MONOTONIC) - t0, now_s(CLOCK_PROCESS_CPUTIME_ID) - c0, work, lag * 1e3,
                    (unsigned long long)j, (unsigned long long)digest, (unsigned long long)count[0][1],
                    (unsigned long long)count[0][0], (unsigned long long)count[1][1],
                    (unsigned long long)count[1][0], (unsigned long long)absent);
            for (size_t i = 0; i < N_COUNTERS; i++) fprintf(out, ",%llu", counters[i] - start_counters[i]);
#ifdef VMSCAN_COUNTERS
            node0_state(zone_values);
            for (size_t i = 0; i < N_ZONE_COLUMNS; i++) fprintf(out, ",%llu", zone_values[i]);
#endif
            fprintf(out, "\n");
            fflush(out);
            lag = 0;
        }
    }
#ifdef NODE_MAP
    const char *map_path = getenv("KERNEL_WORKLOAD_NODE_MAP");
    if (map_path) {
        FILE *f = fopen(map_path, "wb");
        if (!f || fwrite(node_map, map_bytes, n_maps, f) != n_maps || fclose(f)) die(map_path);
    }
#endif
    fclose(out);
    return 0;
}
