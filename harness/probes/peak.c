/* The machine's FP32 peak: ACC independent vector FMA chains per thread, on one thread and on THREADS.
 *
 * Built by harness/peak.py with -DWIDTH (floats per vector: 16 with AVX-512, else 8) and -DACC (chains;
 * enough to hide the FMA latency on every FMA port). GCC/clang vector extensions keep it free of
 * intrinsics headers. Usage: peak THREADS SECONDS; prints "FLOPS_ONE_THREAD FLOPS_ALL_THREADS THREADS". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float vec __attribute__((vector_size(WIDTH * 4)));

static volatile float seed_x = 0.999999f, seed_y = 1e-7f;
static long iterations;
static volatile double sinks[256]; /* volatile: the work must not be dead code */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *work(void *arg) {
    long id = (long)arg;
    vec x, y, acc[ACC];
    for (int l = 0; l < WIDTH; l++) {
        x[l] = seed_x;
        y[l] = seed_y;
    }
    for (int i = 0; i < ACC; i++) acc[i] = y * (float)(i + 1);
    for (long n = 0; n < iterations; n++) {
#pragma GCC unroll 16
        for (int i = 0; i < ACC; i++) acc[i] = acc[i] * x + y;
    }
    double sum = 0;
    for (int i = 0; i < ACC; i++)
        for (int l = 0; l < WIDTH; l++) sum += acc[i][l];
    sinks[id % 256] = sum;
    return NULL;
}

static double run(int threads) {
    pthread_t handles[256];
    double start = now();
    for (long t = 0; t < threads; t++) pthread_create(&handles[t], NULL, work, (void *)t);
    for (int t = 0; t < threads; t++) pthread_join(handles[t], NULL);
    return now() - start;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s THREADS SECONDS\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    double seconds = atof(argv[2]);
    if (threads < 1 || threads > 256 || !(seconds > 0)) {
        fprintf(stderr, "THREADS must be 1-256 and SECONDS positive\n");
        return 2;
    }
    iterations = 1000;
    while (run(1) < 0.05 && iterations < (1L << 40)) iterations *= 2; /* calibrate on one thread */
    iterations = (long)(iterations * seconds / 0.05);
    double flops_per_thread = 2.0 * WIDTH * ACC * (double)iterations;
    double best1 = 1e30, bestn = 1e30;
    for (int r = 0; r < 3; r++) {
        double t1 = run(1), tn = run(threads);
        if (t1 < best1) best1 = t1;
        if (tn < bestn) bestn = tn;
    }
    printf("%.6e %.6e %d\n", flops_per_thread / best1, flops_per_thread * threads / bestn, threads);
    return 0;
}
