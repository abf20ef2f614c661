/* Streaming-read memory bandwidth: threads sum one float array far larger than the last-level cache.
 *
 * Each thread reads its own contiguous slice (the whole array on one thread) with ACC independent
 * vector accumulators, so the adds never limit the loads. The slice is read as S contiguous parts side
 * by side (S streams, ACC / S accumulators each), for S in 1, 2, 4 and 8: one sequential stream per
 * core does not reach the memory's bandwidth on every CPU (its prefetchers keep too few lines in
 * flight), and a GEMM's matrix-vector product reads several rows at once, so the ceiling is the best
 * stream count's. A pass is timed from a barrier every thread leaves together to a barrier every thread
 * reaches after its slice, so creating the threads is not timed. Passes on one thread and on THREADS
 * threads alternate, each stream count in turn; the best of each thread count is kept. Each slice is
 * first written by the thread that later reads it in the THREADS-thread passes (first touch places its
 * pages near that thread). The sums go to a volatile sink, so the reads are not dead code.
 *
 * Built by harness/peak.py with -DWIDTH (floats per vector) and -DACC (a multiple of 8). Usage:
 * bandwidth THREADS BYTES PASSES; prints "BYTES_PER_S_ONE_THREAD BYTES_PER_S_ALL_THREADS THREADS
 * BYTES_READ_PER_PASS". With a fourth argument "check" it fills the array with ones and verifies that
 * every stream count on every thread count sums each slice to its length (exact: each accumulator
 * lane adds at most 2^24 ones), printing "ok" or exiting 1. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float vec __attribute__((vector_size(WIDTH * 4)));

#define BLOCK (WIDTH * ACC) /* floats one step of the inner loop reads */

static float *data;
static size_t floats; /* a multiple of BLOCK * THREADS, so every slice is whole blocks */
static volatile double sinks[256];

struct member {
    int id, threads, fill, streams; /* fill: 0 read, 1 the pattern, 2 ones (check) */
    pthread_barrier_t *start, *done;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define STREAM_COUNTS 4
static const int stream_counts[STREAM_COUNTS] = {1, 2, 4, 8};

/* the slice read as `streams` contiguous parts side by side, ACC / streams accumulators per part:
   accumulator j reads vector i of part j / per, at offset j % per. Inlined into `sum_slice` with a
   constant `streams`, so each stream count's loop has its offsets folded in. */
static inline __attribute__((always_inline)) double sum_parts(const float *p, size_t n, const int streams) {
    const vec *v = (const vec *)p;
    const int per = ACC / streams;
    const size_t part = n / WIDTH / (size_t)streams;
    vec acc[ACC];
    for (int j = 0; j < ACC; j++) acc[j] = (vec){0};
    for (size_t i = 0; i < part; i += (size_t)per) {
#pragma GCC unroll 16
        for (int j = 0; j < ACC; j++) acc[j] += v[(size_t)(j / per) * part + i + (size_t)(j % per)];
    }
    double sum = 0;
    for (int j = 0; j < ACC; j++)
        for (int l = 0; l < WIDTH; l++) sum += acc[j][l];
    return sum;
}

static double sum_slice(const float *p, size_t n, int streams) {
    switch (streams) {
    case 1: return sum_parts(p, n, 1);
    case 2: return sum_parts(p, n, 2);
    case 4: return sum_parts(p, n, 4);
    default: return sum_parts(p, n, 8);
    }
}

/* one member of a team: fill its slice, or wait for the start, read its slice and report done */
static void *member(void *arg) {
    struct member *m = arg;
    size_t n = floats / (size_t)m->threads;
    float *p = data + (size_t)m->id * n;
    if (m->fill) {
        for (size_t i = 0; i < n; i++) p[i] = m->fill == 2 ? 1.0f : (float)(i % 1024) * (1.0f / 1024);
        return NULL;
    }
    pthread_barrier_wait(m->start);
    sinks[m->id % 256] = sum_slice(p, n, m->streams);
    pthread_barrier_wait(m->done);
    return NULL;
}

/* one pass of `threads` threads (the caller is member 0) reading `streams` streams each; seconds from the
   start barrier to the done barrier */
static double pass(int threads, int fill, int streams) {
    pthread_t handles[256];
    struct member members[256];
    pthread_barrier_t start, done;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    pthread_barrier_init(&done, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) members[t] = (struct member){t, threads, fill, streams, &start, &done};
    for (int t = 1; t < threads; t++) pthread_create(&handles[t], NULL, member, &members[t]);
    double seconds = 0;
    if (fill) {
        member(&members[0]);
    } else {
        size_t n = floats / (size_t)threads;
        pthread_barrier_wait(&start);
        double began = now();
        sinks[0] = sum_slice(data, n, streams);
        pthread_barrier_wait(&done);
        seconds = now() - began;
    }
    for (int t = 1; t < threads; t++) pthread_join(handles[t], NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    return seconds;
}

int main(int argc, char **argv) {
    int check = argc == 5 && strcmp(argv[4], "check") == 0;
    if (argc != 4 && !check) {
        fprintf(stderr, "usage: %s THREADS BYTES PASSES [check]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    long long bytes = atoll(argv[2]);
    int passes = atoi(argv[3]);
    size_t unit = (size_t)BLOCK * (size_t)threads;
    if (threads < 1 || threads > 256 || passes < 1 || bytes < (long long)(unit * sizeof(float))) {
        fprintf(stderr, "THREADS must be 1-256, PASSES at least 1 and BYTES at least %zu\n", unit * sizeof(float));
        return 2;
    }
    floats = (size_t)bytes / sizeof(float) / unit * unit;
    data = aligned_alloc(64, floats * sizeof(float));
    if (data == NULL) {
        fprintf(stderr, "cannot allocate %zu bytes\n", floats * sizeof(float));
        return 1;
    }
    pass(threads, check ? 2 : 1, 1);
    if (check) {
        const int teams[2] = {1, threads};
        for (int s = 0; s < STREAM_COUNTS; s++)
            for (int k = 0; k < 2; k++) {
                const int t = teams[k];
                pass(t, 0, stream_counts[s]);
                for (int id = 0; id < t; id++)
                    if (sinks[id] != (double)(floats / (size_t)t)) {
                        fprintf(stderr, "%d streams on %d threads: thread %d summed %.1f ones of %zu\n",
                                stream_counts[s], t, id, sinks[id], floats / (size_t)t);
                        return 1;
                    }
            }
        printf("ok\n");
        free(data);
        return 0;
    }
    double best1 = 1e30, bestn = 1e30;
    for (int r = 0; r < passes; r++)
        for (int s = 0; s < STREAM_COUNTS; s++) {
            double t1 = pass(1, 0, stream_counts[s]), tn = pass(threads, 0, stream_counts[s]);
            if (t1 < best1) best1 = t1;
            if (tn < bestn) bestn = tn;
        }
    double read = (double)floats * sizeof(float);
    printf("%.6e %.6e %d %.0f\n", read / best1, read / bestn, threads, read);
    free(data);
    return 0;
}
