// A team of threads that stays up between parallel loops: after a job, helpers spin briefly on the job
// counter before they sleep, so the many short loops of one inference start without a wake-up.
#include "CKernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void relax(void) { _mm_pause(); }
#else
static inline void relax(void) {}
#endif

enum {
    // Pause loops a helper waits for the next job before it sleeps: 0.73-0.9 ms on this AVX2 EPYC, longer
    // than an inference's serial stretches (a classifier head, a pool) and the gap between inferences. With
    // a thousand (a few tens of microseconds), a helper slept through every small inference and its halted
    // vCPU paid a wake-up at the next one: gender at two threads ran 1.25-1.44x onnxruntime's time in
    // rounds next to its rounds, 1.12-1.20x with 30 000.
    HELPER_SPINS = 30000,
    CALLER_SPINS = 2000,    // pause loops the caller waits for a helper's last task before it yields its core
};

struct seer_team {
    int threads;
    pthread_t *helpers;
    // The current job, written before it is published in `state`; helpers read it only once they joined.
    seer_team_task task;
    void *context;
    int tasks;
    atomic_int participants;    // threads (the caller included) that may work on the current job; read before joining
    atomic_int next;            // the next task to claim: whoever claims it runs it
    atomic_int finished;        // tasks of the current job that have returned
    atomic_int left;            // helpers that joined the current job and are done with it
    // generation (high 32 bits) | helpers joined << 1 | closed (bit 0). A helper joins a job only while it is
    // open, with one compare-and-swap, so the caller knows exactly whom to wait for before the job's
    // context (on its stack) goes away; one that wakes late finds the job closed and leaves it alone.
    _Atomic uint64_t state;
    atomic_int stopping;
    pthread_mutex_t lock;       // guards sleeping helpers against a lost wake-up
    pthread_cond_t wake;
    int sleepers;
};

static inline unsigned generation_of(uint64_t state) { return (unsigned)(state >> 32); }

/// Waits for a generation other than `seen` (or for the team to stop); returns it.
static unsigned next_generation(seer_team *team, unsigned seen) {
    for (int spins = 0; spins < HELPER_SPINS; spins++) {
        unsigned generation = generation_of(atomic_load_explicit(&team->state, memory_order_acquire));
        if (generation != seen || atomic_load_explicit(&team->stopping, memory_order_relaxed)) return generation;
        relax();
    }
    pthread_mutex_lock(&team->lock);
    team->sleepers++;
    unsigned generation;
    while ((generation = generation_of(atomic_load_explicit(&team->state, memory_order_acquire))) == seen
           && !atomic_load_explicit(&team->stopping, memory_order_relaxed)) {
        pthread_cond_wait(&team->wake, &team->lock);
    }
    team->sleepers--;
    pthread_mutex_unlock(&team->lock);
    return generation;
}

/// Joins job `generation` if it is still open and short of participants; returns the helper's number in
/// the job (1, 2, … in the order they joined; the caller is 0), or 0 when it did not join.
static int join(seer_team *team, unsigned generation) {
    uint64_t state = atomic_load_explicit(&team->state, memory_order_acquire);
    while (generation_of(state) == generation && !(state & 1)) {
        int joined = (int)((state & 0xFFFFFFFFu) >> 1);
        if (joined + 1 >= atomic_load_explicit(&team->participants, memory_order_relaxed)) return 0;
        if (atomic_compare_exchange_weak_explicit(&team->state, &state, state + 2, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            return joined + 1;
        }
    }
    return 0;
}

/// Claims and runs tasks of the current job until none is left, as participant `thread`.
static void run_tasks(seer_team *team, int thread) {
    for (;;) {
        int task = atomic_fetch_add_explicit(&team->next, 1, memory_order_relaxed);
        if (task >= team->tasks) return;
        team->task(team->context, task, thread);
        atomic_fetch_add_explicit(&team->finished, 1, memory_order_release);
    }
}

static void *helper_main(void *argument) {
    seer_team *team = argument;
    unsigned seen = 0;
    for (;;) {
        seen = next_generation(team, seen);
        if (atomic_load_explicit(&team->stopping, memory_order_relaxed)) return NULL;
        int thread = join(team, seen);
        if (thread > 0) {
            run_tasks(team, thread);
            atomic_fetch_add_explicit(&team->left, 1, memory_order_release);
        }
    }
}

/// Waits for `*counter` to reach `target`, spinning first, then yielding the core.
static void await_count(atomic_int *counter, int target) {
    for (int spins = 0; atomic_load_explicit(counter, memory_order_acquire) < target; spins++) {
        if (spins < CALLER_SPINS) relax(); else sched_yield();
    }
}

seer_team *seer_team_create(int threads) {
    seer_team *team = calloc(1, sizeof(seer_team));
    if (!team) return NULL;
    atomic_init(&team->next, 0);
    atomic_init(&team->finished, 0);
    atomic_init(&team->left, 0);
    atomic_init(&team->participants, 1);
    atomic_init(&team->state, 1);   // generation 0, closed
    atomic_init(&team->stopping, 0);
    pthread_mutex_init(&team->lock, NULL);
    pthread_cond_init(&team->wake, NULL);
    team->helpers = calloc((size_t)(threads > 1 ? threads : 1), sizeof(pthread_t));
    team->threads = 1;
    while (team->helpers && team->threads < threads
           && pthread_create(&team->helpers[team->threads], NULL, helper_main, team) == 0) {
        team->threads++;
    }
    return team;
}

int seer_team_threads(const seer_team *team) { return team->threads; }

void seer_team_run(seer_team *team, int tasks, seer_team_task task, void *context) {
    if (tasks <= 0) return;
    if (team->threads == 1 || tasks == 1) {
        for (int i = 0; i < tasks; i++) task(context, i, 0);
        return;
    }
    // No helper is inside a job here (the previous call waited for all that joined), so the job's fields
    // and counters can be rewritten before the new generation is published.
    team->task = task;
    team->context = context;
    team->tasks = tasks;
    atomic_store_explicit(&team->participants, tasks < team->threads ? tasks : team->threads, memory_order_relaxed);
    atomic_store_explicit(&team->next, 0, memory_order_relaxed);
    atomic_store_explicit(&team->finished, 0, memory_order_relaxed);
    atomic_store_explicit(&team->left, 0, memory_order_relaxed);
    pthread_mutex_lock(&team->lock);
    uint64_t generation = (atomic_load_explicit(&team->state, memory_order_relaxed) >> 32) + 1;
    atomic_store_explicit(&team->state, generation << 32, memory_order_release);
    if (team->sleepers > 0) pthread_cond_broadcast(&team->wake);
    pthread_mutex_unlock(&team->lock);

    run_tasks(team, 0);
    await_count(&team->finished, tasks);
    uint64_t closed = atomic_fetch_or_explicit(&team->state, 1, memory_order_acq_rel);
    await_count(&team->left, (int)((closed & 0xFFFFFFFFu) >> 1));
}

void seer_team_destroy(seer_team *team) {
    if (!team) return;
    pthread_mutex_lock(&team->lock);
    atomic_store_explicit(&team->stopping, 1, memory_order_relaxed);
    pthread_cond_broadcast(&team->wake);
    pthread_mutex_unlock(&team->lock);
    for (int helper = 1; helper < team->threads; helper++) pthread_join(team->helpers[helper], NULL);
    pthread_mutex_destroy(&team->lock);
    pthread_cond_destroy(&team->wake);
    free(team->helpers);
    free(team);
}
