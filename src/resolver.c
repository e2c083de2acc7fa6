/*
** resolver.c: getaddrinfo without blocking the loop. Numeric hosts are
** answered at once; names go to a small pool of POSIX threads shared by
** the whole process, whose answers reach each loop through the ev_async
** of that loop's Resolver.
**
** Anchoring rule: a loop's Resolver is the value of the key &resolver_key
** in the loop's LOOP_UV_WATCHERS table from its first query until the loop
** closes (its ev_async is started exactly then), and holds the futures of
** its unanswered queries in a user value keyed by query number. A query a
** thread is still working on when its Resolver goes away is orphaned (its
** owner set to NULL under the pool's lock) and freed by that thread.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "internal.h"

#define POOL_THREADS 4

enum { RES_UV_LOOP = 1, RES_UV_FUTURES, RES_UV_DELIVER, RES_NUV = RES_UV_DELIVER };

typedef struct Job {
  struct Job *next;
  struct Resolver *owner;  /* NULL once orphaned; guarded by pool.lock */
  lua_Integer id;          /* ro: key of its future in RES_UV_FUTURES */
  char *host, *port;       /* owned, or NULL */
  struct addrinfo hints;
  int rc, err;             /* getaddrinfo's answer; errno for EAI_SYSTEM */
  struct addrinfo *res;    /* owned */
} Job;

typedef struct Resolver {
  IoHook hook;             /* first: see internal.h */
  ev_async async;          /* a thread answered; started while open */
  Loop *loop;              /* ro: cache of RES_UV_LOOP */
  Job *done, *donetail;    /* answered, oldest first; guarded by pool.lock */
  lua_Integer nextid;      /* rw */
} Resolver;

/* The threads and their queue, shared by every Lua state of the process. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  Job *head, *tail;        /* queued, not started */
  int nthreads, idle;
  int users;               /* Lua states that loaded the core */
  int stopping;
  pthread_t threads[POOL_THREADS];
  Job *running[POOL_THREADS];  /* the job each thread works on, or NULL */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          NULL, NULL, 0, 0, 0, 0, {0}, {NULL}};

static char resolver_key;  /* key of a loop's Resolver in its watchers */
static char sentinel_key;  /* key of the pool's sentinel in the registry */

static void free_job (Job *j) {
  if (j->res != NULL) freeaddrinfo(j->res);
  free(j->host);
  free(j->port);
  free(j);
}

static void *worker (void *arg) {
  int self = (int)(size_t)arg;
  pthread_mutex_lock(&pool.lock);
  for (;;) {
    Job *j;
    while (pool.head == NULL && !pool.stopping) {
      pool.idle++;
      pthread_cond_wait(&pool.cond, &pool.lock);
      pool.idle--;
    }
    if (pool.stopping) break;
    j = pool.head;
    pool.head = j->next;
    if (pool.head == NULL) pool.tail = NULL;
    pool.running[self] = j;
    pthread_mutex_unlock(&pool.lock);
    j->rc = getaddrinfo(j->host, j->port, &j->hints, &j->res);
    j->err = errno;
    pthread_mutex_lock(&pool.lock);
    pool.running[self] = NULL;
    if (j->owner != NULL) {
      Resolver *r = j->owner;
      j->next = NULL;
      if (r->donetail != NULL) r->donetail->next = j;
      else r->done = j;
      r->donetail = j;
      ev_async_send(r->loop->ev, &r->async);
    } else free_job(j);
  }
  pthread_mutex_unlock(&pool.lock);
  return NULL;
}

/* Queues a job, starting a thread if none is idle. 0, or an errno. */
static int submit (Job *j) {
  int err = 0;
  pthread_mutex_lock(&pool.lock);
  if (pool.idle == 0 && pool.nthreads < POOL_THREADS) {
    err = pthread_create(&pool.threads[pool.nthreads], NULL, worker,
                         (void *)(size_t)pool.nthreads);
    if (err == 0) pool.nthreads++;
    else if (pool.nthreads > 0) err = 0;  /* the others will get to it */
  }
  if (err == 0) {
    j->next = NULL;
    if (pool.tail != NULL) pool.tail->next = j;
    else pool.head = j;
    pool.tail = j;
    pthread_cond_signal(&pool.cond);
  }
  pthread_mutex_unlock(&pool.lock);
  return err;
}

/*
** Forgets every job of r: queued ones are freed, running ones orphaned,
** answered ones freed. Needs no Lua; idempotent.
*/
static void resolver_shut (Resolver *r) {
  Job **p, *j;
  int i;
  pthread_mutex_lock(&pool.lock);
  for (p = &pool.head; *p != NULL; ) {
    j = *p;
    if (j->owner == r) {
      *p = j->next;
      free_job(j);
    } else p = &j->next;
  }
  pool.tail = NULL;
  for (j = pool.head; j != NULL; j = j->next) pool.tail = j;
  for (i = 0; i < POOL_THREADS; i++)
    if (pool.running[i] != NULL && pool.running[i]->owner == r)
      pool.running[i]->owner = NULL;
  while (r->done != NULL) {
    j = r->done;
    r->done = j->next;
    free_job(j);
  }
  r->donetail = NULL;
  pthread_mutex_unlock(&pool.lock);
}

/* ---------- answers ---------- */

static const char *family_name (int family) {
  switch (family) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    default: return "unknown";
  }
}

static const char *type_name (int type) {
  switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_RAW: return "raw";
    default: return "unknown";
  }
}

/* Pushes the list of {family, type, protocol, addr, port}. [-0, +1, m] */
static void push_list (lua_State *L, const struct addrinfo *res) {
  int n = 0;
  lua_newtable(L);
  for (; res != NULL; res = res->ai_next) {
    if (res->ai_family != AF_INET && res->ai_family != AF_INET6) continue;
    lua_createtable(L, 0, 5);
    lua_pushstring(L, family_name(res->ai_family));
    lua_setfield(L, -2, "family");
    lua_pushstring(L, type_name(res->ai_socktype));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, res->ai_protocol);
    lua_setfield(L, -2, "protocol");
    socket_pushaddr(L, res->ai_addr, (unsigned int)res->ai_addrlen);
    lua_setfield(L, -3, "port");
    lua_setfield(L, -2, "addr");
    if (res->ai_canonname != NULL) {
      lua_pushstring(L, res->ai_canonname);
      lua_setfield(L, -2, "canonname");
    }
    lua_rawseti(L, -2, ++n);
  }
}

static const struct { int code; const char *name; } gai_names[] = {
  {EAI_AGAIN, "EAI_AGAIN"}, {EAI_BADFLAGS, "EAI_BADFLAGS"},
  {EAI_FAIL, "EAI_FAIL"}, {EAI_FAMILY, "EAI_FAMILY"},
  {EAI_MEMORY, "EAI_MEMORY"}, {EAI_NONAME, "EAI_NONAME"},
  {EAI_SERVICE, "EAI_SERVICE"}, {EAI_SOCKTYPE, "EAI_SOCKTYPE"},
#ifdef EAI_NODATA
  {EAI_NODATA, "EAI_NODATA"},
#endif
#ifdef EAI_ADDRFAMILY
  {EAI_ADDRFAMILY, "EAI_ADDRFAMILY"},
#endif
  {0, NULL}
};

/*
** Pushes the OSError of a failed getaddrinfo: errno is the EAI_* value and
** code its name, as Python's socket.gaierror. [-0, +1, e]
*/
static void push_gaierror (lua_State *L, int rc, int err, const char *host) {
  const char *code = "EAI_UNKNOWN";
  int i;
  if (rc == EAI_SYSTEM) {
    lua_pushfstring(L, "getaddrinfo %s", host ? host : "(nil)");
    socket_pusherror(L, err, lua_tostring(L, -1));
    lua_remove(L, -2);
    return;
  }
  for (i = 0; gai_names[i].name != NULL; i++)
    if (gai_names[i].code == rc) code = gai_names[i].name;
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  lua_getfield(L, -1, "OSError");
  lua_getfield(L, -1, "from_errno");
  lua_pushinteger(L, rc);
  lua_pushstring(L, code);
  lua_pushfstring(L, "getaddrinfo %s: %s", host ? host : "(nil)", gai_strerror(rc));
  lua_call(L, 3, 1);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* Settles the future at futidx with the answer of j. [-0, +0, e] */
static void settle (lua_State *L, int futidx, Job *j) {
  Future *f = (Future *)lua_touserdata(L, futidx);
  if (f == NULL || f->state != FUT_PENDING) return;
  if (j->rc == 0) {
    push_list(L, j->res);
    future_set_results(L, f, futidx, lua_gettop(L), 1);
  } else {
    push_gaierror(L, j->rc, j->err, j->host);
    future_set_error(L, f, futidx, lua_gettop(L));
  }
  lua_pop(L, 1);
}

/*
** deliver(r, loop): settles the futures of the answered jobs; runs
** protected from the ev_async callback, as a closure over the Runtime.
*/
static int deliver (lua_State *L) {
  Resolver *r = (Resolver *)lua_touserdata(L, 1);
  Job *j;
  lua_settop(L, 2);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, &resolver_key) != LUA_TUSERDATA
      || lua_touserdata(L, -1) != (void *)r) return 0;
  lua_getiuservalue(L, -1, RES_UV_FUTURES);   /* 5 */
  for (;;) {  /* one at a time: an error leaves the others queued */
    pthread_mutex_lock(&pool.lock);
    j = r->done;
    if (j != NULL) {
      r->done = j->next;
      if (r->done == NULL) r->donetail = NULL;
    }
    pthread_mutex_unlock(&pool.lock);
    if (j == NULL) break;
    lua_rawgeti(L, 5, j->id);
    lua_pushnil(L);
    lua_rawseti(L, 5, j->id);
    settle(L, lua_gettop(L), j);
    free_job(j);
    lua_pop(L, 1);
  }
  return 0;
}

static void async_cb (struct ev_loop *ev, ev_async *w, int revents) {
  Resolver *r = (Resolver *)w->data;
  lua_State *L = r->loop->L;
  (void)ev; (void)revents;
  if (L == NULL) return;
  ioorder_event(r->loop);
  lua_getiuservalue(L, 1, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, &resolver_key) != LUA_TUSERDATA) {
    lua_pop(L, 2);
    return;
  }
  lua_getiuservalue(L, -1, RES_UV_DELIVER);
  lua_replace(L, -3);
  lua_pop(L, 1);
  lua_pushlightuserdata(L, r);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "asyncio: error delivering name resolutions: %s\n",
            lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* ---------- the Resolver of a loop ---------- */

static void resolver_loopclose (IoHook *h) {
  Resolver *r = (Resolver *)h;
  if (r->loop->ev != NULL) ev_async_stop(r->loop->ev, &r->async);
  resolver_shut(r);
}

static int resolver_gc (lua_State *L) {
  Resolver *r = (Resolver *)aio_checkobj(L, 1, AIO_TRESOLVER, "Resolver");
  if (!r->loop->closed && r->loop->ev != NULL)
    ev_async_stop(r->loop->ev, &r->async);
  resolver_shut(r);
  return 0;
}

/* Pushes the Resolver of the loop at loopidx, made on first use. */
static Resolver *get_resolver (lua_State *L, Loop *loop, int loopidx) {
  Resolver *r;
  lua_getiuservalue(L, loopidx, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, &resolver_key) == LUA_TUSERDATA) {
    lua_remove(L, -2);
    return (Resolver *)lua_touserdata(L, -1);
  }
  lua_pop(L, 1);
  r = (Resolver *)lua_newuserdatauv(L, sizeof(Resolver), RES_NUV);
  memset(r, 0, sizeof(*r));
  r->hook.loopclose = resolver_loopclose;
  r->loop = loop;
  luaL_setmetatable(L, AIO_RESOLVER);
  lua_pushvalue(L, loopidx);
  lua_setiuservalue(L, -2, RES_UV_LOOP);
  lua_newtable(L);
  lua_setiuservalue(L, -2, RES_UV_FUTURES);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, deliver, 1);
  lua_setiuservalue(L, -2, RES_UV_DELIVER);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, &resolver_key);
  lua_remove(L, -2);
  ev_async_init(&r->async, async_cb);
  r->async.data = r;
  ev_async_start(loop->ev, &r->async);
  return r;
}

static char *dupopt (lua_State *L, int idx) {
  size_t n;
  const char *s;
  char *d;
  if (lua_isnoneornil(L, idx)) return NULL;
  s = lua_tolstring(L, idx, &n);
  d = (char *)malloc(n + 1);
  if (d != NULL) memcpy(d, s, n + 1);
  return d;
}

static const char *const fam_opts[] = {"any", "inet", "inet6", NULL};
static const int fam_values[] = {AF_UNSPEC, AF_INET, AF_INET6};
static const char *const type_opts[] = {"any", "stream", "dgram", NULL};
static const int type_values[] = {0, SOCK_STREAM, SOCK_DGRAM};

/*
** core.getaddrinfo(loop, host, port, family, type, passive) -> Future of
** the list of {family=, type=, protocol=, addr=, port=}. host and port are
** strings, numbers or nil; family "any", "inet" or "inet6"; type "any",
** "stream" or "dgram". Numeric hosts are answered at once.
*/
static int core_getaddrinfo (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  struct addrinfo hints, *res = NULL;
  const char *host, *port;
  int rc, futidx;
  Future *f;
  Job *j;
  Resolver *r;
  lua_settop(L, 6);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TSTRING);
  if (lua_type(L, 3) == LUA_TNUMBER) {
    lua_Integer p = luaL_checkinteger(L, 3);
    luaL_argcheck(L, p >= 0 && p <= 65535, 3, "port out of range");
    lua_pushfstring(L, "%d", (int)p);
    lua_replace(L, 3);
  } else if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TSTRING);
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = fam_values[luaL_checkoption(L, 4, "any", fam_opts)];
  hints.ai_socktype = type_values[luaL_checkoption(L, 5, "any", type_opts)];
  if (lua_toboolean(L, 6)) hints.ai_flags |= AI_PASSIVE;
  host = lua_tostring(L, 2);
  port = lua_tostring(L, 3);
  /* host and port both nil: getaddrinfo's EAI_NONAME, as Python's gaierror */
  f = future_pushnew(L, 1);  /* 7 */
  futidx = lua_gettop(L);
  /* numeric host and port: no lookup, no thread */
  hints.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
  rc = getaddrinfo(host, port, &hints, &res);
  if (rc == 0) {
    push_list(L, res);
    freeaddrinfo(res);
    future_set_results(L, f, futidx, lua_gettop(L), 1);
    lua_settop(L, futidx);
    return 1;
  }
  hints.ai_flags &= ~(AI_NUMERICHOST | AI_NUMERICSERV);
  r = get_resolver(L, loop, 1);  /* 8 */
  j = (Job *)calloc(1, sizeof(Job));
  if (j == NULL) return luaL_error(L, "not enough memory");
  j->host = dupopt(L, 2);
  j->port = dupopt(L, 3);
  j->hints = hints;
  j->owner = r;
  j->id = ++r->nextid;
  if ((host != NULL && j->host == NULL) || (port != NULL && j->port == NULL)) {
    free_job(j);
    return luaL_error(L, "not enough memory");
  }
  lua_getiuservalue(L, 8, RES_UV_FUTURES);
  lua_pushvalue(L, futidx);
  lua_rawseti(L, -2, j->id);
  rc = submit(j);
  if (rc != 0) {
    lua_pushnil(L);
    lua_rawseti(L, -2, j->id);
    free_job(j);
    socket_pusherror(L, rc, "pthread_create");
    future_set_error(L, f, futidx, -1);
  }
  lua_settop(L, futidx);
  return 1;
}

/* The state's share of the pool: the last state to close joins it. */
static int pool_release (lua_State *L) {
  int i, n = 0;
  pthread_t threads[POOL_THREADS];
  (void)L;
  pthread_mutex_lock(&pool.lock);
  if (--pool.users == 0 && pool.nthreads > 0) {
    Job *j;
    pool.stopping = 1;
    while (pool.head != NULL) {  /* queued for states that are gone */
      j = pool.head;
      pool.head = j->next;
      free_job(j);
    }
    pool.tail = NULL;
    pthread_cond_broadcast(&pool.cond);
    n = pool.nthreads;
    memcpy(threads, pool.threads, sizeof(threads));
    pool.nthreads = 0;
  }
  pthread_mutex_unlock(&pool.lock);
  for (i = 0; i < n; i++) pthread_join(threads[i], NULL);
  if (n > 0) {
    pthread_mutex_lock(&pool.lock);
    pool.stopping = 0;
    pthread_mutex_unlock(&pool.lock);
  }
  return 0;
}

int resolver_open (lua_State *L) {
  static const luaL_Reg methods[] = {{NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", resolver_gc}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"getaddrinfo", core_getaddrinfo},
    {NULL, NULL}
  };
  aio_newclass(L, AIO_TRESOLVER, AIO_RESOLVER, methods, meta);
  aio_setfuncs(L, funcs);
  /* a sentinel whose finalizer, at lua_close, lets the pool go */
  pthread_mutex_lock(&pool.lock);
  pool.users++;
  pthread_mutex_unlock(&pool.lock);
  lua_newuserdatauv(L, 1, 0);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, pool_release);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &sentinel_key);
  return 0;
}
