/* intake: see intake.h. */
#include "intake.h"

#include "log.h"
#include "logspace.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC 0x31495a45u        /* "EZI1" */
#define HDR 24                   /* magic, payload length, sequence number, crc, zero */
#define NSTR 9                   /* the event's strings, in the order of struct fields below */
#define FIXED (16 + 4 * NSTR)    /* received_at, lane, zero, the strings' lengths */
#define NIL UINT32_MAX           /* a NULL string's length */
#define ALIGN 64                 /* records start on these boundaries (offsets kept in units) */
#define OFF_BITS 26              /* a slot's offset, in ALIGN units: the file's 4 GB */
#define TAG_BITS 22              /* the rest of a slot's 48 bits: its key's hash tag */

struct intake {
    int fd;
    char *path;
    int64_t append_off;          /* where the next record goes */
    int64_t move_off;            /* the oldest record not yet moved */
    uint64_t next_seq;           /* the next record's number */
    size_t pending;              /* records in [move_off, append_off) */
    /* Records not yet moved (and staged ones), by dedupe key: (tag << OFF_BITS) | offset /
     * ALIGN with a nonzero tag, 0 for an empty slot, kept in 6 bytes (the high 16 bits in hi,
     * the low 32 in lo: two arrays in one mapping); linear probing, at most 80 % full (a miss
     * probes ~13 slots). The log's bound (INGEST_LOG_MAX_RECORDS, ~10 s of a burst at this
     * machine's rate) fits 2^19 slots, 3 MB: 8-byte slots took 4 MB, past the memory budget. */
    uint16_t *hi;
    uint32_t *lo;
    size_t nslots, nbits;
    struct logspace *space;      /* keeps the space ahead of append_off written (logspace.h) */
    /* Staged records, encoded as they will be written at append_off. */
    unsigned char *stage;
    size_t nstage, stage_cap, nstaged;
};

/* A decoded record: strings point into the buffer it was read into. */
struct record {
    uint64_t seq;
    int64_t off, size;           /* where it starts and what it takes, padding included */
    int64_t end8;                /* where its successor started in the 8-byte-aligned format */
    struct store_event ev;
};

static int fail(char *err, size_t errlen, const char *fmt, const char *what)
{
    snprintf(err, errlen, fmt, what);
    return -1;
}

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ULL;                  /* FNV-1a, then a final mix */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint32_t tag_of(const char *key)
{
    uint32_t t = (uint32_t)(hash_key(key) >> (64 - TAG_BITS));
    return t ? t : 1;
}

/* A record's index entry: its key's tag and its offset in ALIGN units. */
static uint64_t slot_of(const char *key, int64_t off)
{
    return (uint64_t)tag_of(key) << OFF_BITS | (uint64_t)(off / ALIGN);
}

static uint32_t slot_tag(uint64_t v) { return (uint32_t)(v >> OFF_BITS); }
static int64_t slot_off(uint64_t v) { return (int64_t)(v & ((1u << OFF_BITS) - 1)) * ALIGN; }

static uint64_t slot_get(const struct intake *ik, size_t i)
{
    return (uint64_t)ik->hi[i] << 32 | ik->lo[i];
}

static void slot_set(struct intake *ik, size_t i, uint64_t v)
{
    ik->hi[i] = (uint16_t)(v >> 32);
    ik->lo[i] = (uint32_t)v;
}

static size_t home(const struct intake *ik, uint32_t tag)
{
    return (size_t)((uint32_t)(tag * 0x9E3779B9u) >> (32 - ik->nbits));
}

static void slot_put(struct intake *ik, uint64_t v)
{
    size_t mask = ik->nslots - 1, i = home(ik, slot_tag(v));
    while (slot_get(ik, i)) i = (i + 1) & mask;
    slot_set(ik, i, v);
}

/* Removes the slot holding exactly v, shifting the run after it back (no tombstones). */
static void slot_del(struct intake *ik, uint64_t v)
{
    size_t mask = ik->nslots - 1, i = home(ik, slot_tag(v));
    uint64_t cur;
    while ((cur = slot_get(ik, i)) && cur != v) i = (i + 1) & mask;
    if (!cur) return;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        uint64_t next = slot_get(ik, j);
        if (!next) break;
        size_t k = home(ik, slot_tag(next));
        /* Move slots[j] into the hole at i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (k > i && k <= j) : (k > i || k <= j);
        if (!stays) {
            slot_set(ik, i, next);
            i = j;
        }
    }
    slot_set(ik, i, 0);
}

/* The table is mapped, not malloc'd: a resize gives each page of the old table back as soon as
 * its slots are re-placed. A slot's new home is 2 * its old home (+ 1), so reading the old
 * table in order fills the new one about in order too, and the two together never take much
 * more than the new one alone: with malloc the doubling to 2 MB (at ~105k deliveries in the
 * log, in a long burst) held the old 1 MB as well, the peak of the receiver's memory. */
#define SLOT_BYTES (sizeof(uint16_t) + sizeof(uint32_t))

/* n slots: hi at the mapping's start, lo after it (n >= 2, so lo is aligned). */
static uint16_t *slots_map(size_t n)
{
    void *p = mmap(NULL, n * SLOT_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void slots_unmap(uint16_t *hi, size_t n)
{
    if (hi) munmap(hi, n * SLOT_BYTES);
}

/* Gives back the whole pages of the old table below slot i in both arrays. */
static void release_below(uint16_t *hi, uint32_t *lo, size_t i, size_t page, size_t *hi_done,
                          size_t *lo_done)
{
    size_t hi_upto = i * sizeof *hi / page * page, lo_upto = i * sizeof *lo / page * page;
    if (hi_upto > *hi_done) madvise((char *)hi + *hi_done, hi_upto - *hi_done, MADV_DONTNEED);
    if (lo_upto > *lo_done) madvise((char *)lo + *lo_done, lo_upto - *lo_done, MADV_DONTNEED);
    *hi_done = hi_upto > *hi_done ? hi_upto : *hi_done;
    *lo_done = lo_upto > *lo_done ? lo_upto : *lo_done;
}

static int slots_resize(struct intake *ik, size_t nbits)
{
    struct intake old = { .hi = ik->hi, .lo = ik->lo, .nslots = ik->nslots };
    uint16_t *hi = slots_map((size_t)1 << nbits);
    if (!hi) return -1;
    ik->hi = hi;
    ik->nslots = (size_t)1 << nbits;
    ik->lo = (uint32_t *)(hi + ik->nslots);
    ik->nbits = nbits;
    long page = sysconf(_SC_PAGESIZE);
    size_t hi_done = 0, lo_done = 0;
    for (size_t i = 0; i < old.nslots; i++) {
        uint64_t v = slot_get(&old, i);
        if (v) slot_put(ik, v);
        /* the lo array's page boundaries: the hi array's fall on every other one of them
         * (the mapping is page-aligned; the lo array starts at a multiple of 4 KB from 2^11
         * slots on, and the small tables are a few pages anyway) */
        if (page > 0 && (i + 1) % ((size_t)page / sizeof *old.lo) == 0)
            release_below(old.hi, old.lo, i + 1, (size_t)page, &hi_done, &lo_done);
    }
    slots_unmap(old.hi, old.nslots);
    return 0;
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t crc_of(const unsigned char *rec, uint32_t len)
{
    uLong c = crc32(0L, rec + 4, 12);                     /* the length and the number */
    return (uint32_t)crc32(c, rec + HDR, len);
}

/* Decodes the record at buf (avail bytes there, the file's offset off). 1 when it is whole and
 * sound, 0 when not (torn, damaged, or not a record at all). */
static int decode(const unsigned char *buf, size_t avail, int64_t off, struct record *r)
{
    if (avail < HDR || get32(buf) != MAGIC) return 0;
    uint32_t len = get32(buf + 4);
    if (len < FIXED || len > avail - HDR || crc_of(buf, len) != get32(buf + 16)) return 0;
    const unsigned char *p = buf + HDR;
    memset(r, 0, sizeof *r);
    r->seq = get64(buf + 8);
    r->off = off;
    r->size = ((int64_t)HDR + len + ALIGN - 1) & ~(int64_t)(ALIGN - 1);
    r->end8 = off + (((int64_t)HDR + len + 7) & ~(int64_t)7);
    r->ev.received_at = (int64_t)get64(p);
    /* Only the engine's lanes: a record never becomes an event without its backlog entry
     * (STORE_LANE_NONE would be one), whatever the file says. */
    int32_t lane = (int32_t)get32(p + 8);
    r->ev.lane = lane < 0 ? 0 : lane >= STORE_JOB_NPRIORITIES ? STORE_JOB_NPRIORITIES - 1 : lane;
    const char *s[NSTR];
    size_t at = FIXED;
    for (int i = 0; i < NSTR; i++) {
        uint32_t n = get32(p + 16 + 4 * i);
        if (n == NIL) {
            s[i] = NULL;
            continue;
        }
        if (n > len - at || len - at - n < 1 || p[at + n] != '\0') return 0;
        s[i] = (const char *)p + at;
        if (i == NSTR - 1) r->ev.body_len = n;
        at += (size_t)n + 1;
    }
    if (!s[0] || !s[1] || !s[2] || !s[8]) return 0;       /* source, topic, key and body */
    r->ev.source = s[0];
    r->ev.topic = s[1];
    r->ev.dedupe_key = s[2];
    r->ev.event_id = s[3];
    r->ev.triggered_at = s[4];
    r->ev.shop = s[5];
    r->ev.api_version = s[6];
    r->ev.headers = s[7];
    r->ev.body = s[8];
    return 1;
}

static int read_full(int fd, void *buf, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Reads the whole record at off into *buf (grown as needed). 1 when sound, 0 when not, -1 on
 * a read error. */
static int read_record(struct intake *ik, int64_t off, int64_t file_end, unsigned char **buf,
                       size_t *cap, struct record *r)
{
    unsigned char hdr[HDR];
    if (file_end - off < HDR) return 0;
    if (read_full(ik->fd, hdr, HDR, off)) return -1;
    if (get32(hdr) != MAGIC) return 0;
    uint32_t len = get32(hdr + 4);
    if ((int64_t)len > file_end - off - HDR) return 0;
    if (*cap < (size_t)HDR + len) {
        unsigned char *nb = realloc(*buf, (size_t)HDR + len);
        if (!nb) return -1;
        *buf = nb;
        *cap = (size_t)HDR + len;
    }
    memcpy(*buf, hdr, HDR);
    if (read_full(ik->fd, *buf + HDR, len, off + HDR)) return -1;
    return decode(*buf, (size_t)HDR + len, off, r);
}

struct intake *intake_open(const char *path, char *err, size_t errlen)
{
    struct intake *ik = calloc(1, sizeof *ik);
    if (ik) ik->fd = -1;
    if (!ik || !(ik->path = strdup(path)) || slots_resize(ik, 10)) {
        fail(err, errlen, "intake: %s", "out of memory");
        goto fail;
    }
    ik->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ik->fd < 0) {
        snprintf(err, errlen, "intake: cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    /* One writer per log: a second process on the same store would write over this one's
     * records from the same offsets (SQLite's locks kept two receivers safe; this keeps them
     * apart). The lock goes with the descriptor, so a crash releases it. */
    if (flock(ik->fd, LOCK_EX | LOCK_NB)) {
        snprintf(err, errlen, "intake: %s is in use by another process (%s): is another ezsync "
                 "serving this store?", path, strerror(errno));
        goto fail;
    }
    /* Without its filler the log still works, as it did before there was one: slower. */
    char why[256];
    if (!(ik->space = logspace_start(ik->fd, path, why, sizeof why)))
        log_warn("intake: the log's space is not prepared ahead", "error", why);
    ik->next_seq = 1;
    return ik;
fail:
    if (ik) {
        if (ik->fd >= 0) close(ik->fd);
        slots_unmap(ik->hi, ik->nslots);
        free(ik->path);
    }
    free(ik);
    return NULL;
}

void intake_close(struct intake *ik)
{
    if (!ik) return;
    logspace_stop(ik->space);
    if (ik->fd >= 0) close(ik->fd);
    slots_unmap(ik->hi, ik->nslots);
    free(ik->stage);
    free(ik->path);
    free(ik);
}

size_t intake_pending(const struct intake *ik) { return ik->pending; }

int64_t intake_pending_bytes(const struct intake *ik) { return ik->append_off - ik->move_off; }

/* Everything is moved: the next record goes at the start of the file again. A file a burst
 * grew large is cut back (a crash before that reaches the disk only leaves records the mark
 * already covers); the slot table shrinks back too. */
static void start_over(struct intake *ik)
{
    if (logspace_truncate(ik->space, ik->fd, INTAKE_KEEP_BYTES)) {
        /* kept: only disk space is at stake */
    }
    ik->append_off = ik->move_off = 0;
    if (ik->nbits > 10) slots_resize(ik, 10);
}

int intake_holds(struct intake *ik, const char *dedupe_key, char *err, size_t errlen)
{
    uint32_t tag = tag_of(dedupe_key);
    size_t mask = ik->nslots - 1;
    unsigned char *buf = NULL;
    size_t cap = 0;
    int found = 0;
    uint64_t v;
    for (size_t i = home(ik, tag); (v = slot_get(ik, i)); i = (i + 1) & mask) {
        if (slot_tag(v) != tag) continue;
        /* The tag matches: compare the key itself, from the stage or the file. */
        int64_t off = slot_off(v);
        struct record r;
        int ok;
        if (off >= ik->append_off)
            ok = decode(ik->stage + (off - ik->append_off), ik->nstage - (size_t)(off - ik->append_off),
                        off, &r);
        else
            ok = read_record(ik, off, ik->append_off, &buf, &cap, &r);
        if (ok < 0) {
            snprintf(err, errlen, "intake: cannot read %s: %s", ik->path, strerror(errno));
            found = -1;
            break;
        }
        if (ok && strcmp(r.ev.dedupe_key, dedupe_key) == 0) {
            found = 1;
            break;
        }
    }
    free(buf);
    return found;
}

int intake_stage(struct intake *ik, const struct store_event *ev, char *err, size_t errlen)
{
    const char *s[NSTR] = { ev->source, ev->topic, ev->dedupe_key, ev->event_id,
                            ev->triggered_at, ev->shop, ev->api_version, ev->headers, ev->body };
    size_t n[NSTR], len = FIXED;
    if (!ev->source || !ev->topic || !ev->dedupe_key)
        return fail(err, errlen, "intake: %s", "an event needs a source, a topic and a key");
    for (int i = 0; i < NSTR; i++) {
        n[i] = !s[i] ? 0 : i == NSTR - 1 ? ev->body_len : strlen(s[i]);
        if (i == NSTR - 1 && !s[i]) s[i] = "";           /* no body: an empty one */
        if (s[i]) len += n[i] + 1;
    }
    size_t size = ((size_t)HDR + len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    int64_t off = ik->append_off + (int64_t)ik->nstage;
    if (len > UINT32_MAX - 8 || (int64_t)size > INTAKE_MAX_BYTES - off)
        return fail(err, errlen, "intake: %s", "the log is full");
    if ((ik->pending + ik->nstaged + 1) * 5 > ik->nslots * 4 && slots_resize(ik, ik->nbits + 1))
        return fail(err, errlen, "intake: %s", "out of memory");
    if (ik->stage_cap - ik->nstage < size) {
        size_t cap = ik->stage_cap ? ik->stage_cap : 65536;
        while (cap - ik->nstage < size) cap *= 2;
        unsigned char *nb = realloc(ik->stage, cap);
        if (!nb) return fail(err, errlen, "intake: %s", "out of memory");
        ik->stage = nb;
        ik->stage_cap = cap;
    }
    unsigned char *rec = ik->stage + ik->nstage, *p = rec + HDR;
    uint32_t magic = MAGIC, len32 = (uint32_t)len;
    uint64_t seq = ik->next_seq + ik->nstaged;
    int64_t received = ev->received_at ? ev->received_at : store_now_ms();
    int32_t lane = ev->lane;
    memset(rec, 0, size);                /* the reserved words, NULs and padding */
    memcpy(rec, &magic, 4);
    memcpy(rec + 4, &len32, 4);
    memcpy(rec + 8, &seq, 8);
    memcpy(p, &received, 8);
    memcpy(p + 8, &lane, 4);
    size_t at = FIXED;
    for (int i = 0; i < NSTR; i++) {
        uint32_t l = s[i] ? (uint32_t)n[i] : NIL;
        memcpy(p + 16 + 4 * i, &l, 4);
        if (!s[i]) continue;
        memcpy(p + at, s[i], n[i]);
        at += n[i] + 1;                                  /* the NUL: memset above */
    }
    uint32_t crc = crc_of(rec, len32);
    memcpy(rec + 16, &crc, 4);
    ik->nstage += size;
    ik->nstaged++;
    slot_put(ik, slot_of(ev->dedupe_key, off));
    return 0;
}

/* Takes the staged records' slots out again (a failed write). */
static void unstage(struct intake *ik)
{
    struct record r;
    for (size_t at = 0; at < ik->nstage; at += (size_t)r.size) {
        if (!decode(ik->stage + at, ik->nstage - at, ik->append_off + (int64_t)at, &r)) break;
        slot_del(ik, slot_of(r.ev.dedupe_key, r.off));
    }
}

static void stage_reset(struct intake *ik)
{
    ik->nstage = ik->nstaged = 0;
    if (ik->stage_cap > (4u << 20)) {       /* a burst's buffer is not kept */
        free(ik->stage);
        ik->stage = NULL;
        ik->stage_cap = 0;
    }
}

void intake_abort(struct intake *ik)
{
    unstage(ik);
    stage_reset(ik);
}

int intake_commit(struct intake *ik, char *err, size_t errlen)
{
    int rc = 0;
    if (!ik->nstaged) return 0;
    logspace_claim(ik->space, ik->append_off, (int64_t)ik->nstage);
    if (logspace_write(ik->fd, ik->stage, ik->nstage, ik->append_off)) {
        snprintf(err, errlen, "intake: cannot write %s: %s", ik->path, strerror(errno));
        unstage(ik);
        rc = -1;
    } else {
        ik->append_off += (int64_t)ik->nstage;
        ik->pending += ik->nstaged;
        ik->next_seq += ik->nstaged;
    }
    stage_reset(ik);
    return rc;
}

long intake_move(struct intake *ik, struct store *st, size_t max, size_t *inserted,
                 int64_t *first_id, int64_t *last_id, char *err, size_t errlen)
{
    *inserted = 0;
    *first_id = *last_id = 0;
    if (!ik->pending || !max) return 0;
    /* A read for about max records of a few KB (webhook bodies), within INTAKE_MOVE_BYTES. */
    int64_t want = intake_pending_bytes(ik);
    if (want > INTAKE_MOVE_BYTES) want = INTAKE_MOVE_BYTES;
    if ((int64_t)max < INTAKE_MOVE_BYTES / 8192 && want > (int64_t)max * 8192) want = (int64_t)max * 8192;
    unsigned char *buf = malloc((size_t)want);
    size_t count = 0;
    struct record *recs = calloc(max < ik->pending ? max : ik->pending, sizeof *recs);
    unsigned char **bufs = NULL;
    long rc = -1;
    if (!buf || !recs) {
        fail(err, errlen, "intake: %s", "out of memory");
        goto out;
    }
    if (read_full(ik->fd, buf, (size_t)want, ik->move_off)) {
        snprintf(err, errlen, "intake: cannot read %s: %s", ik->path, strerror(errno));
        goto out;
    }
    /* As many whole records as the read holds (at least one: a record larger than the read is
     * read again on its own). */
    int64_t at = 0;
    while (count < max && count < ik->pending && at <= want) {
        int ok = decode(buf + at, (size_t)(want - at), ik->move_off + at, &recs[count]);
        if (!ok && count == 0) {
            if (!bufs && !(bufs = calloc(1, sizeof *bufs))) {
                fail(err, errlen, "intake: %s", "out of memory");
                goto out;
            }
            size_t c2 = 0;
            ok = read_record(ik, ik->move_off, ik->append_off, &bufs[0], &c2, &recs[0]);
            if (ok < 0) {
                snprintf(err, errlen, "intake: cannot read %s: %s", ik->path, strerror(errno));
                goto out;
            }
        }
        if (!ok) break;
        at += recs[count].size;
        count++;
        if (bufs) break;
    }
    if (count == 0) {
        snprintf(err, errlen, "intake: the record at offset %lld of %s is damaged",
                 (long long)ik->move_off, ik->path);
        goto out;
    }
    if (store_begin(st)) goto store_err;
    for (size_t i = 0; i < count; i++) {
        int ins = 0;
        recs[i].ev.id = 0;
        if (store_event_insert(st, &recs[i].ev, &ins)) {
            store_rollback(st);
            goto store_err;
        }
        if (ins) {
            if (!*first_id) *first_id = recs[i].ev.id;
            *last_id = recs[i].ev.id;
            (*inserted)++;
        }
    }
    if (store_intake_set_mark(st, (int64_t)recs[count - 1].seq)) {
        store_rollback(st);
        goto store_err;
    }
    if (store_commit(st)) goto store_err;
    for (size_t i = 0; i < count; i++) {
        slot_del(ik, slot_of(recs[i].ev.dedupe_key, recs[i].off));
        ik->move_off += recs[i].size;
    }
    ik->pending -= count;
    if (!ik->pending) start_over(ik);
    rc = (long)count;
    goto out;
store_err:
    *inserted = 0;
    *first_id = *last_id = 0;
    snprintf(err, errlen, "intake: moving into events: %s", store_errmsg(st));
out:
    if (bufs) free(bufs[0]);
    free(bufs);
    free(recs);
    free(buf);
    return rc;
}

/* The first sound record at or after off (8-byte steps, as records are aligned) numbered past
 * floor; -1 when there is none. Records of the file's earlier uses are numbered at or below
 * the mark and are never taken for the log's own. */
static int64_t resync(struct intake *ik, int64_t off, int64_t size, uint64_t floor,
                      unsigned char **buf, size_t *cap, struct record *r)
{
    unsigned char chunk[65536];
    for (off = (off + 7) & ~(int64_t)7; size - off >= HDR;) {
        size_t n = size - off < (int64_t)sizeof chunk ? (size_t)(size - off) : sizeof chunk;
        if (read_full(ik->fd, chunk, n, off)) return -1;
        for (size_t at = 0; at + 4 <= n; at += 8) {
            if (get32(chunk + at) != MAGIC) continue;
            if (read_record(ik, off + (int64_t)at, size, buf, cap, r) == 1 && r->seq > floor)
                return off + (int64_t)at;
        }
        off += (int64_t)n;
    }
    return -1;
}

/* Inserts a recovered record; every RECOVER_TX records (and at the end) the transaction
 * commits with the mark at the last one. */
#define RECOVER_TX 1024

long intake_recover(struct intake *ik, struct store *st, char *err, size_t errlen)
{
    int64_t mark = 0, off = 0, damaged_at = -1, tight = 0;
    uint64_t prev = 0, lost = 0, last = 0;
    long count = 0, in_tx = 0;
    struct stat sb;
    unsigned char *buf = NULL;
    size_t cap = 0;
    err[0] = '\0';
    if (store_intake_mark(st, &mark)) return fail(err, errlen, "intake: %s", store_errmsg(st));
    if (fstat(ik->fd, &sb))
        return fail(err, errlen, "intake: cannot read the log: %s", strerror(errno));
    /* The chain of records from the start: each sound and numbered one past the last. Those
     * the mark covers were moved before the crash; the rest were acknowledged and are not. A
     * crash during a write leaves a torn last record, where the chain ends; a record damaged
     * on the disk ends it too, but acknowledged records may follow it: they are looked for
     * and taken, and the records lost with it are counted. */
    for (;;) {
        struct record r;
        int ok = read_record(ik, off, (int64_t)sb.st_size, &buf, &cap, &r);
        if (ok < 0) goto read_error;
        if (ok && off > 0 && r.seq != prev + 1) ok = 0;
        if (!ok && tight < off) {
            /* A log the versions before 64-byte alignment wrote: records 8 bytes apart. */
            ok = read_record(ik, tight, (int64_t)sb.st_size, &buf, &cap, &r);
            if (ok < 0) goto read_error;
            if (ok && r.seq == prev + 1) off = tight;
            else ok = 0;
        }
        if (!ok) {
            uint64_t floor = prev > (uint64_t)mark ? prev : (uint64_t)mark;
            int64_t next = resync(ik, off + 8, (int64_t)sb.st_size, floor, &buf, &cap, &r);
            if (next < 0) break;
            if (damaged_at < 0) damaged_at = off;
            lost += r.seq - floor - 1;
            off = next;
        }
        prev = r.seq;
        off += r.size;
        tight = r.end8;
        if ((int64_t)r.seq <= mark) continue;
        r.ev.id = 0;
        int ins = 0;
        if ((!in_tx && store_begin(st)) || store_event_insert(st, &r.ev, &ins)) goto store_error;
        in_tx++;
        last = r.seq;
        count++;
        if (in_tx == RECOVER_TX) {
            if (store_intake_set_mark(st, (int64_t)last) || store_commit(st)) goto store_error;
            in_tx = 0;
        }
    }
    if (in_tx && (store_intake_set_mark(st, (int64_t)last) || store_commit(st))) goto store_error;
    free(buf);
    ik->next_seq = ((uint64_t)mark > prev ? (uint64_t)mark : prev) + 1;
    start_over(ik);
    if (lost)
        snprintf(err, errlen, "intake: the log's record at offset %lld is damaged: acknowledged "
                 "deliveries lost with it: %llu (the records after it were recovered)",
                 (long long)damaged_at, (unsigned long long)lost);
    return count;
read_error:
    snprintf(err, errlen, "intake: cannot read the log: %s", strerror(errno));
    if (in_tx) store_rollback(st);
    free(buf);
    return -1;
store_error:
    snprintf(err, errlen, "intake: moving into events: %s", store_errmsg(st));
    store_rollback(st);                  /* none open (a failed begin or commit): nothing */
    free(buf);
    return -1;
}
