/* Streaming-read memory bandwidth: threads sum one float array far larger than the last-level cache.
 *
 * Each thread reads its own contiguous slice (the whole array on one thread) with ACC independent
 * vector accumulators, so the adds never limit the loads. A pass is timed from a barrier every thread
 * leaves together to a barrier every thread reaches after its slice, so creating the threads is not
 * timed. Passes on one thread and on THREADS threads alternate; the best of each is kept. Each slice is
 * first written by the thread that later reads it in the THREADS-thread passes (first touch places its
 * pages near that thread). The sums go to a volatile sink, so the reads are not dead code.
 *
 * Built by harness/peak.py with -DWIDTH (floats per vector) and -DACC. Usage: bandwidth THREADS BYTES
 * PASSES; prints "BYTES_PER_S_ONE_THREAD BYTES_PER_S_ALL_THREADS THREADS BYTES_READ_PER_PASS". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float vec __attribute__((vector_size(WIDTH * 4)));

#define BLOCK (WIDTH * ACC) /* floats one step of the inner loop reads */

static float *data;
static size_t floats; /* a multiple of BLOCK * THREADS, so every slice is whole blocks */
static volatile double sinks[256];

struct member {
    int id, threads, fill;
    pthread_barrier_t *start, *done;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double sum_slice(const float *p, size_t n) {
    const vec *v = (const vec *)p;
    vec acc[ACC];
    for (int j = 0; j < ACC; j++) acc[j] = (vec){0};
    for (size_t i = 0; i < n / WIDTH; i += ACC) {
#pragma GCC unroll 16
        for (int j = 0; j < ACC; j++) acc[j] += v[i + j];
    }
    double sum = 0;
    for (int j = 0; j < ACC; j++)
        for (int l = 0; l < WIDTH; l++) sum += acc[j][l];
    return sum;
}

/* one member of a team: fill its slice, or wait for the start, read its slice and report done */
static void *member(void *arg) {
    struct member *m = arg;
    size_t n = floats / (size_t)m->threads;
    float *p = data + (size_t)m->id * n;
    if (m->fill) {
        for (size_t i = 0; i < n; i++) p[i] = (float)(i % 1024) * (1.0f / 1024);
        return NULL;
    }
    pthread_barrier_wait(m->start);
    sinks[m->id % 256] = sum_slice(p, n);
    pthread_barrier_wait(m->done);
    return NULL;
}

/* one pass of `threads` threads (the caller is member 0); seconds from the start barrier to the done barrier */
static double pass(int threads, int fill) {
    pthread_t handles[256];
    struct member members[256];
    pthread_barrier_t start, done;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    pthread_barrier_init(&done, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) members[t] = (struct member){t, threads, fill, &start, &done};
    for (int t = 1; t < threads; t++) pthread_create(&handles[t], NULL, member, &members[t]);
    double seconds = 0;
    if (fill) {
        member(&members[0]);
    } else {
        size_t n = floats / (size_t)threads;
        pthread_barrier_wait(&start);
        double began = now();
        sinks[0] = sum_slice(data, n);
        pthread_barrier_wait(&done);
        seconds = now() - began;
    }
    for (int t = 1; t < threads; t++) pthread_join(handles[t], NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    return seconds;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s THREADS BYTES PASSES\n", argv[0]);
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
    pass(threads, 1);
    double best1 = 1e30, bestn = 1e30;
    for (int r = 0; r < passes; r++) {
        double t1 = pass(1, 0), tn = pass(threads, 0);
        if (t1 < best1) best1 = t1;
        if (tn < bestn) bestn = tn;
    }
    double read = (double)floats * sizeof(float);
    printf("%.6e %.6e %d %.0f\n", read / best1, read / bestn, threads, read);
    free(data);
    return 0;
}
