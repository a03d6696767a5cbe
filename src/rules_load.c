/* rules_load: one rules version = one sandboxed lua_State holding every file of the rules
 * directory. Reads the files once (their bytes are hashed into the version id, and `require`
 * serves lib/ modules from this snapshot, so a run never mixes versions), builds the sandbox by
 * allow-list, runs each file and validates what it returns, then runs the self-checks. */
#include "rules_internal.h"

#include "lua_ez.h"
#include "lua_json.h"
#include "lua_json_lazy.h"

#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct rfile {
    char *name;     /* relative: "ping.lua", "lib/orderez.lua" */
    char *path;     /* dir/name, the chunk name in messages */
    char *data;
    size_t len;
    int lib;
};

struct load_ctx {
    struct rules_version *v;
    struct rfile *files;
    size_t nfiles;
};

/* registry keys */
static const char preload_key = 'p';
static const char loaded_key = 'l';

/* ---- allocator: a hard cap per state ---- */

static void *rules_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct rules_mem *m = ud;
    if (!ptr) osize = 0;  /* osize is a type tag for new blocks */
    if (nsize == 0) {     /* realloc(p, 0) is not a portable free */
        if (ptr) rules_pool_dealloc(&m->pool, ptr, osize);
        m->used -= osize;
        return NULL;
    }
    if (nsize > osize && m->used - osize + nsize > m->limit) {
        m->refused = 1;
        return NULL;
    }
    void *p = rules_pool_realloc(&m->pool, ptr, osize, nsize);
    if (!p) {
        m->refused = 1;
        return NULL;
    }
    m->used = m->used - osize + nsize;
    if (m->used > m->peak) m->peak = m->used;
    return p;
}

static int rules_panic(lua_State *L)
{
    /* Every host call into the state is protected; reaching this is a host bug. */
    fprintf(stderr, "ezsync: unprotected error in the rules state: %s\n",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
    abort();
}

/* ---- reading the directory ---- */

static void files_free(struct rfile *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].path);
        free(f[i].data);
    }
    free(f);
}

static int ends_with_lua(const char *s)
{
    size_t n = strlen(s);
    return n > 4 && strcmp(s + n - 4, ".lua") == 0 && s[0] != '.';
}

static int read_all(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc = -1;
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (!nb) goto cleanup;
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) goto cleanup;
    *data = buf;
    *len = n;
    buf = NULL;
    rc = 0;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct rfile *)a)->name, ((const struct rfile *)b)->name);
}

/* Appends every *.lua of dir/sub (sub "" = top level). */
static int scan_one(const char *dir, const char *sub, struct rfile **files, size_t *n,
                    char *err, size_t errlen)
{
    char dpath[4096];
    snprintf(dpath, sizeof dpath, "%s%s%s", dir, *sub ? "/" : "", sub);
    DIR *d = opendir(dpath);
    if (!d) {
        if (*sub && errno == ENOENT) return 0;  /* lib/ is optional */
        snprintf(err, errlen, "%s: %s", dpath, strerror(errno));
        return -1;
    }
    int rc = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!ends_with_lua(de->d_name)) continue;
        struct rfile *nf = realloc(*files, (*n + 1) * sizeof **files);
        if (!nf) goto nomem;
        *files = nf;
        struct rfile *f = &nf[*n];
        memset(f, 0, sizeof *f);
        (*n)++;
        size_t nl = strlen(sub) + strlen(de->d_name) + 2, pl = strlen(dir) + nl + 1;
        f->name = malloc(nl);
        f->path = malloc(pl);
        if (!f->name || !f->path) goto nomem;
        snprintf(f->name, nl, "%s%s%s", sub, *sub ? "/" : "", de->d_name);
        snprintf(f->path, pl, "%s/%s", dir, f->name);
        f->lib = *sub != 0;
        if (read_all(f->path, &f->data, &f->len)) {
            snprintf(err, errlen, "%s: %s", f->path, strerror(errno ? errno : EIO));
            goto cleanup;
        }
    }
    rc = 0;
    goto cleanup;
nomem:
    snprintf(err, errlen, "rules: out of memory reading %s", dpath);
cleanup:
    closedir(d);
    return rc;
}

static int scan(const char *dir, struct rfile **files, size_t *n, char *err, size_t errlen)
{
    *files = NULL;
    *n = 0;
    if (scan_one(dir, "", files, n, err, errlen) || scan_one(dir, "lib", files, n, err, errlen)) {
        files_free(*files, *n);
        *files = NULL;
        *n = 0;
        return -1;
    }
    if (*n) qsort(*files, *n, sizeof **files, cmp_file);
    return 0;
}

/* sha256 over (name, NUL, length, bytes) of every file in name order. */
static void version_hash(const struct rfile *f, size_t n, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        char lenbuf[32];
        int ll = snprintf(lenbuf, sizeof lenbuf, "%zu:", f[i].len);
        EVP_DigestUpdate(c, f[i].name, strlen(f[i].name) + 1);
        EVP_DigestUpdate(c, lenbuf, (size_t)ll);
        EVP_DigestUpdate(c, f[i].data, f[i].len);
    }
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < RULES_ID_LEN / 2; i++) sprintf(out + 2 * i, "%02x", md[i]);
    out[RULES_ID_LEN] = 0;
}

uint64_t rules_dir_signature(const char *dir)
{
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a over names, sizes and mtimes */
    const char *subs[] = { "", "lib" };
    for (int s = 0; s < 2; s++) {
        char dpath[4096];
        snprintf(dpath, sizeof dpath, "%s%s%s", dir, *subs[s] ? "/" : "", subs[s]);
        DIR *d = opendir(dpath);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!ends_with_lua(de->d_name)) continue;
            char p[4352];
            struct stat sb;
            snprintf(p, sizeof p, "%s/%s", dpath, de->d_name);
            if (stat(p, &sb)) continue;
            /* order-independent: readdir order may change without any edit */
            uint64_t e = 1469598103934665603ULL;
            for (const char *c = p; *c; c++) e = (e ^ (unsigned char)*c) * 1099511628211ULL;
            e ^= (uint64_t)sb.st_size * 31 + (uint64_t)sb.st_mtim.tv_sec * 1000000007ULL +
                 (uint64_t)sb.st_mtim.tv_nsec;
            h += e * 1099511628211ULL;
        }
        closedir(d);
    }
    return h;
}

/* ---- the sandbox ---- */

/* Raises a message without the traceback (compile and validation errors point at file:line
 * already; a traceback of the loader would be noise). */
static int plain_error(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_newtable(L);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);    /* {msg}: the message handler passes tables through */
    return lua_error(L);
}

static int global_index(lua_State *L)
{
    luaL_where(L, 1);
    lua_pushfstring(L, "undeclared global '%s'", lua_tostring(L, 2));
    lua_concat(L, 2);
    return lua_error(L);
}

static int global_newindex(lua_State *L)
{
    luaL_where(L, 1);
    lua_pushfstring(L, "assignment to undeclared global '%s' (declare it local)",
                    lua_tostring(L, 2));
    lua_concat(L, 2);
    return lua_error(L);
}

/* load() for text only: a binary chunk is refused with an error. */
static int safe_load(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    if (strcmp(mode, "t") != 0) return luaL_error(L, "load: only mode \"t\" is allowed");
    if (len > 0 && s[0] == LUA_SIGNATURE[0])
        return luaL_error(L, "load: binary chunks are not allowed");
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

/* setmetatable() without __gc: a finalizer would run outside any run's instruction budget. */
static int safe_setmetatable(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_json_lazy_force(L, 1, 0); /* its own metatable goes: its members must be there */
    int t = lua_type(L, 2);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)
        return luaL_error(L, "setmetatable: __gc metamethods are not allowed in rules");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* require() of lib/ modules only, from the version's snapshot. */
static int safe_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &loaded_key);             /* 2: loaded */
    if (lua_getfield(L, 2, name) != LUA_TNIL) {
        if (lua_islightuserdata(L, -1))
            return luaL_error(L, "require: module '%s' requires itself (a cycle)", name);
        return 1;
    }
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &preload_key);
    if (lua_getfield(L, -1, name) != LUA_TFUNCTION)
        return luaL_error(L, "module '%s' not found (rules can require only modules in lib/)",
                          name);
    lua_pushlightuserdata(L, (void *)&loaded_key);               /* "loading" mark */
    lua_setfield(L, 2, name);
    lua_pushstring(L, name);
    /* Unprotected on purpose: require() is itself called from rule code, which always runs
     * under lua_pcall (loading) or lua_resume (a run); an error propagates to that frame. */
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    return 1;
}

/* tostring(), with integers written here: rules turn ids into strings several times an event,
 * and luaL_tolstring goes through lua_pushfstring's format machinery and snprintf (~2k
 * instructions) for the same "%lld" digits. An integer with a metatable (only C could give
 * numbers one) and every other value go to luaL_tolstring, as the base library's does. */
static int fast_tostring(lua_State *L)
{
    luaL_checkany(L, 1);
    if (lua_isinteger(L, 1)) {
        if (!lua_getmetatable(L, 1)) {
            char buf[32];
            lua_pushlstring(L, buf, lua_json_integer_text(buf, lua_tointeger(L, 1)));
            return 1;
        }
        lua_pop(L, 1);
    }
    luaL_tolstring(L, 1, NULL);
    return 1;
}

static const char *const base_allowed[] = {
    "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal",
    "rawget", "rawlen", "rawset", "select", "tonumber", "tostring", "type", "xpcall",
    "_G", "_VERSION", NULL,
};

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0) return 1;
    return 0;
}

/* Globals: the allowed base functions, string (without dump), table, math, utf8, coroutine,
 * os.time/clock/date, ez, and our load/require/setmetatable. Then the lock. */
static void sandbox_open(lua_State *L)
{
    static const struct { const char *name; lua_CFunction open; } libs[] = {
        { "string", luaopen_string }, { "table", luaopen_table }, { "math", luaopen_math },
        { "utf8", luaopen_utf8 }, { "coroutine", luaopen_coroutine }, { "os", luaopen_os },
    };
    luaL_requiref(L, "_G", luaopen_base, 0);
    int g = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, g)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING && !in_list(base_allowed, lua_tostring(L, -1))) {
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, g);
        }
    }
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        luaL_requiref(L, libs[i].name, libs[i].open, 0);
        if (libs[i].open == luaopen_coroutine) rules_guard_coroutines(L, -1);
        lua_setfield(L, g, libs[i].name);
    }
    lua_getfield(L, g, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getfield(L, g, "os");                                   /* trim os to the clock */
    lua_createtable(L, 0, 3);
    const char *keep[] = { "time", "clock", "date" };
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setfield(L, g, "os");
    lua_pop(L, 1);
    lua_pushcfunction(L, fast_tostring);
    lua_setfield(L, g, "tostring");
    lua_pushvalue(L, g);
    lua_json_lazy_open_base(L); /* next, pairs, rawget, ... that fill lazy tables first */
    lua_pop(L, 1);
    lua_pushcfunction(L, safe_load);
    lua_setfield(L, g, "load");
    lua_pushcfunction(L, safe_require);
    lua_setfield(L, g, "require");
    lua_pushcfunction(L, safe_setmetatable);
    lua_setfield(L, g, "setmetatable");
    lua_ez_open(L);
    lua_setfield(L, g, "ez");
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &preload_key);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &loaded_key);
    lua_createtable(L, 0, 2);                                   /* the lock */
    lua_pushcfunction(L, global_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, global_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, g);
    lua_pop(L, 1);
}

/* ---- loading and validation ---- */

static void compile(lua_State *L, const struct rfile *f)
{
    lua_pushfstring(L, "@%s", f->path);
    int rc = luaL_loadbufferx(L, f->data, f->len, lua_tostring(L, -1), "t");
    lua_remove(L, -2);
    if (rc != LUA_OK) plain_error(L, "%s", lua_tostring(L, -1));
}

/* Calls the function below its nargs arguments with a traceback handler; a failure becomes a
 * plain error prefixed with what. Leaves nres results. */
static void call_checked(lua_State *L, int nargs, int nres, const char *path, const char *what)
{
    int fn = lua_gettop(L) - nargs;
    lua_pushcfunction(L, rules_msgh);
    lua_insert(L, fn);
    if (lua_pcall(L, nargs, nres, fn) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        plain_error(L, "%s: %s failed: %s", path, what, msg ? msg : "(error object)");
    }
    lua_remove(L, fn);
}

static void module_name(const struct rfile *f, char *out, size_t outlen)
{
    /* lib/foo.lua -> "foo" */
    snprintf(out, outlen, "%s", f->name + 4);
    out[strlen(out) - 4] = 0;
}

static int valid_topic(const char *t)
{
    const char *src[] = { "shopify/", "orderez/", "schedule/" };
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(src[i]);
        if (strncmp(t, src[i], n) == 0 && t[n] && !strpbrk(t, " \t\n")) return 1;
    }
    return 0;
}

/* Validates the rule table at the top and files its handlers into handlers/owners. */
static void register_rule(lua_State *L, const struct rfile *f, int handlers, int owners)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t))
        plain_error(L, "%s: a rule file must return a table {name=, on={...}} (got %s)", f->path,
                    luaL_typename(L, t));
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        static const char *const known[] = { "name", "on", "self_check", "description", NULL };
        if (!in_list(known, k))
            plain_error(L, "%s: unknown key '%s' in the rule table (known: name, on, "
                        "self_check, description)", f->path, k);
        lua_pop(L, 1);
    }
    if (lua_getfield(L, t, "self_check") > LUA_TNIL && !lua_isfunction(L, -1))
        plain_error(L, "%s: self_check must be a function", f->path);
    lua_pop(L, 1);
    if (lua_getfield(L, t, "on") != LUA_TTABLE)
        plain_error(L, "%s: the rule table needs on = { [\"<source>/<topic>\"] = function(event) "
                    "... end }", f->path);
    int on = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, on)) {
        if (lua_type(L, -2) != LUA_TSTRING || !valid_topic(lua_tostring(L, -2)))
            plain_error(L, "%s: bad topic '%s' (want shopify/<topic>, orderez/<topic> or "
                        "schedule/<name>)", f->path, luaL_tolstring(L, -2, NULL));
        const char *topic = lua_tostring(L, -2);
        if (lua_type(L, -1) != LUA_TFUNCTION || lua_iscfunction(L, -1))
            plain_error(L, "%s: on[\"%s\"] must be a function(event)", f->path, topic);
        lua_Debug ar;
        lua_pushvalue(L, -1);
        lua_getinfo(L, ">Su", &ar);
        if (ar.nparams > 1)
            plain_error(L, "%s:%d: handler for %s takes (event) only, not %d parameters",
                        f->path, ar.linedefined, topic, (int)ar.nparams);
        if (lua_getfield(L, owners, topic) != LUA_TNIL)
            plain_error(L, "%s: topic %s is already handled by %s", f->path, topic,
                        lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_pushstring(L, f->path);
        lua_setfield(L, owners, topic);
        lua_pushvalue(L, -1);
        lua_setfield(L, handlers, topic);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static int load_all(lua_State *L)
{
    struct load_ctx *lc = lua_touserdata(L, 1);
    lua_settop(L, 0);
    sandbox_open(L);
    char mod[256];
    lua_rawgetp(L, LUA_REGISTRYINDEX, &preload_key);
    for (size_t i = 0; i < lc->nfiles; i++) {
        if (!lc->files[i].lib) continue;
        module_name(&lc->files[i], mod, sizeof mod);
        compile(L, &lc->files[i]);
        lua_setfield(L, -2, mod);
    }
    lua_pop(L, 1);
    for (size_t i = 0; i < lc->nfiles; i++) {              /* lib modules must load */
        if (!lc->files[i].lib) continue;
        module_name(&lc->files[i], mod, sizeof mod);
        lua_pushcfunction(L, safe_require);
        lua_pushstring(L, mod);
        call_checked(L, 1, 0, lc->files[i].path, "loading the module");
    }
    lua_newtable(L);                                       /* 1: handlers */
    lua_newtable(L);                                       /* 2: owners */
    lua_newtable(L);                                       /* 3: rule tables, for self_check */
    for (size_t i = 0; i < lc->nfiles; i++) {
        if (lc->files[i].lib) continue;
        compile(L, &lc->files[i]);
        call_checked(L, 0, 1, lc->files[i].path, "running the file");
        register_rule(L, &lc->files[i], 1, 2);
        lua_rawseti(L, 3, (lua_Integer)i + 1);
    }
    for (size_t i = 0; i < lc->nfiles; i++) {
        if (lc->files[i].lib) continue;
        if (lua_rawgeti(L, 3, (lua_Integer)i + 1) != LUA_TTABLE) {
            lua_pop(L, 1);
            continue;
        }
        if (lua_getfield(L, -1, "self_check") == LUA_TFUNCTION)
            call_checked(L, 0, 0, lc->files[i].path, "self_check");
        else
            lua_pop(L, 1);
        lua_pop(L, 1);
    }
    lua_settop(L, 1);
    lc->v->handlers_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copies the topics out of the handlers table (no allocation inside Lua). */
static int collect_topics(struct rules_version *v)
{
    lua_State *L = v->L;
    int top = lua_gettop(L), rc = -1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, v->handlers_ref);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        char **nt = realloc(v->topics, (v->ntopics + 1) * sizeof *nt);
        if (!nt) goto cleanup;
        v->topics = nt;
        if (!(nt[v->ntopics] = strdup(lua_tostring(L, -2)))) goto cleanup;
        v->ntopics++;
        lua_pop(L, 1);
    }
    if (v->ntopics) qsort(v->topics, v->ntopics, sizeof *v->topics, cmp_str);
    rc = 0;
cleanup:
    lua_settop(L, top);
    return rc;
}

int rules_version_load(struct rules_version **out, const char *dir, long long budget,
                       size_t mem_limit, struct rules_shared *shared, char *err, size_t errlen)
{
    struct rfile *files = NULL;
    size_t nfiles = 0;
    struct rules_version *v = NULL;
    struct rules_meter meter = { 0, budget, 0 };
    int rc = -1;

    *out = NULL;
    if (scan(dir, &files, &nfiles, err, errlen)) goto cleanup;
    if (!(v = calloc(1, sizeof *v)) || !(v->dir = strdup(dir))) {
        snprintf(err, errlen, "rules: out of memory");
        goto cleanup;
    }
    v->refs = 1;
    v->budget = budget;
    v->handlers_ref = LUA_NOREF;
    v->mem.limit = mem_limit;
    v->shared = shared;
    shared->refs++;
    shared->alive++;
    if (!(v->L = lua_newstate(rules_alloc, &v->mem))) {
        snprintf(err, errlen, "rules: cannot create a Lua state (memory cap too small?)");
        goto cleanup;
    }
    lua_atpanic(v->L, rules_panic);
    *(struct rules_version **)lua_getextraspace(v->L) = v;
    version_hash(files, nfiles, v->id);
    struct load_ctx lc = { v, files, nfiles };
    v->meter = &meter;
    lua_sethook(v->L, rules_hook, LUA_MASKCOUNT, RULES_HOOK_STEP);
    int st = rules_pcall(v, load_all, &lc, err, errlen);
    lua_sethook(v->L, NULL, 0, 0);
    v->meter = NULL;
    if (st != LUA_OK) goto cleanup;
    if (collect_topics(v)) {
        snprintf(err, errlen, "rules: out of memory");
        goto cleanup;
    }
    lua_gc(v->L, LUA_GCCOLLECT);
    *out = v;
    v = NULL;
    rc = 0;
cleanup:
    if (v) rules_version_unref(v);
    files_free(files, nfiles);
    return rc;
}

void rules_shared_unref(struct rules_shared *s)
{
    if (s && --s->refs == 0) free(s);
}

void rules_version_unref(struct rules_version *v)
{
    if (!v || --v->refs > 0) return;
    if (v->L) lua_close(v->L);
    rules_pool_release(&v->mem.pool);
    json_tape_free(&v->tape);
    for (size_t i = 0; i < v->ntopics; i++) free(v->topics[i]);
    free(v->topics);
    free(v->dir);
    if (v->shared) {
        v->shared->alive--;
        rules_shared_unref(v->shared);
    }
    free(v);
}
