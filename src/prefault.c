/*
** prefault.c: faults in the pages of the arena's spare chunk on a thread
** of its own, before the loop's thread needs them.
**
** A burst of tasks is bound by page faults: in the spawn benchmark, the
** kernel zeroing fresh pages takes most of the time, and on a virtual
** machine a page the host has not backed yet costs several times more.
** With a core to spare, that work can run beside the loop. The arena keeps
** one spare chunk once it grows in chunks of the largest size (arena.c)
** and has this thread write a byte to each of its pages, from the start,
** until the arena takes the chunk into use or gives it back: then
** prefault_cancel stops the thread between two writes and waits for the
** one under way, so that no write lands in memory the arena handed out.
** Plain writes fault pages in without taking the process's mmap lock, as
** madvise(MADV_POPULATE_WRITE) would, which every mmap and munmap of the
** loop's thread would then wait for.
**
** Off when the process may run on one CPU only and when the environment
** variable ASYNCIO_PREFAULT is "0". When it is "slow", the thread pauses
** 20 us after each page, so that the arena overtakes it: the specs check
** that then too nothing is written where a block is.
**
** Anchoring rule: no Lua values here; the job names memory the arena owns,
** and the arena cancels it before it uses that memory or gives it back.
*/
#define _GNU_SOURCE  /* sched_getaffinity, CPU_COUNT, usleep */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define PF_PAGE ((size_t)4096)

enum { PF_UNKNOWN = 0, PF_OFF, PF_ON };

static struct {
  pthread_mutex_t mu;
  pthread_cond_t work;       /* a job was given */
  int state;                 /* PF_UNKNOWN, PF_OFF or PF_ON (under mu) */
  int started;               /* the thread runs (under mu) */
  int slow;                  /* pause after each page (ASYNCIO_PREFAULT=slow) */
  int atfork;                /* the fork handlers are registered */
  char *base;                /* the job (under mu): [base, base + len), */
  size_t len;                /* base NULL when there is none */
  unsigned long next_id;     /* ids of jobs, never reused (under mu) */
  atomic_ulong active;       /* the id of the job that may be written to, 0:
                                none (the thread stops at its next write) */
  atomic_int writing;        /* the thread is between its check of active
                                and the end of a write */
} pf = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PF_UNKNOWN, 0, 0,
        0, NULL, 0, 1, 0, 0};

/*
** Writes a byte to each page of [base, base + len) while the job is the
** active one. The check and the write form a pair with prefault_cancel's
** store and load (all sequentially consistent): either cancel sees the
** flag raised and waits, or this sees the job withdrawn and stops.
*/
static void fault_in (volatile char *base, size_t len, unsigned long id) {
  size_t off;
  for (off = 0; off < len; off += PF_PAGE) {
    atomic_store(&pf.writing, 1);
    if (atomic_load(&pf.active) != id) break;
    base[off] = 0;
    atomic_store(&pf.writing, 0);
    if (pf.slow) usleep(20);
  }
  atomic_store(&pf.writing, 0);
}

static void *worker (void *arg) {
  (void)arg;
  pthread_mutex_lock(&pf.mu);
  for (;;) {
    char *base;
    size_t len;
    unsigned long id;
    while (pf.base == NULL) pthread_cond_wait(&pf.work, &pf.mu);
    base = pf.base;
    len = pf.len;
    id = atomic_load(&pf.active);
    pf.base = NULL;  /* taken: the next job may be given */
    pthread_mutex_unlock(&pf.mu);
    fault_in(base, len, id);
    pthread_mutex_lock(&pf.mu);
  }
  return NULL;
}

/* Whether the process may run on more than one CPU (its affinity mask, as
   taskset and container cpusets set it). */
static int machine_fits (void) {
  const char *env = getenv("ASYNCIO_PREFAULT");
  cpu_set_t cpus;
  if (env != NULL && strcmp(env, "0") == 0) return 0;
  pf.slow = env != NULL && strcmp(env, "slow") == 0;
  if (sched_getaffinity(0, sizeof cpus, &cpus) != 0)
    return sysconf(_SC_NPROCESSORS_ONLN) > 1;
  return CPU_COUNT(&cpus) > 1;
}

/*
** fork() copies the state but not the thread: the child forgets both, and
** would start a thread of its own if it needed one. The state is locked
** across the fork so that the child's copy is consistent, and unlocked on
** both sides after.
*/
static void before_fork (void) {
  pthread_mutex_lock(&pf.mu);
}

static void after_fork_parent (void) {
  pthread_mutex_unlock(&pf.mu);
}

static void after_fork_child (void) {
  pf.started = 0;
  pf.base = NULL;
  atomic_store(&pf.active, 0);
  atomic_store(&pf.writing, 0);  /* the thread may have been mid-write */
  pthread_cond_init(&pf.work, NULL);  /* the copy counts the thread waiting */
  pthread_mutex_unlock(&pf.mu);
}

/* Starts the thread, with every signal blocked: signals are the loop's.
   (under pf.mu) */
static int start_worker (void) {
  pthread_t th;
  pthread_attr_t attr;
  sigset_t all, old;
  int ok;
  if (pthread_attr_init(&attr) != 0) return 0;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, (size_t)64 << 10);
  if (!pf.atfork) {
    if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
      pthread_attr_destroy(&attr);
      return 0;
    }
    pf.atfork = 1;
  }
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  ok = pthread_create(&th, &attr, worker, NULL) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return ok;
}

/* Whether chunks should be faulted in ahead: the machine has a core to
   spare and it was not turned off. */
int prefault_enabled (void) {
  int on;
  pthread_mutex_lock(&pf.mu);
  if (pf.state == PF_UNKNOWN) pf.state = machine_fits() ? PF_ON : PF_OFF;
  on = pf.state == PF_ON;
  pthread_mutex_unlock(&pf.mu);
  return on;
}

/*
** Has the pages of [base, base + len) faulted in, in place of any job
** before (the arena cancels that one first). [0 if it cannot be]
*/
int prefault_request (void *base, size_t len) {
  int given = 0;
  pthread_mutex_lock(&pf.mu);
  if (pf.state == PF_ON && !pf.started) {
    pf.started = start_worker();
    if (!pf.started) pf.state = PF_OFF;
  }
  if (pf.state == PF_ON) {
    pf.base = (char *)base;
    pf.len = len;
    atomic_store(&pf.active, pf.next_id++);
    pthread_cond_signal(&pf.work);
    given = 1;
  }
  pthread_mutex_unlock(&pf.mu);
  return given;
}

/*
** Withdraws the job: when this returns, the thread writes nothing more,
** and the memory may be used or given back. Waits at most for one write,
** that is one page fault.
*/
void prefault_cancel (void) {
  pthread_mutex_lock(&pf.mu);
  pf.base = NULL;  /* if the thread has not taken it yet */
  atomic_store(&pf.active, 0);
  while (atomic_load(&pf.writing)) sched_yield();
  pthread_mutex_unlock(&pf.mu);
}
