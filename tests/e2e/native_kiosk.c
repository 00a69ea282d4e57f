/* A kiosk program as the vendors' callers write it: it includes SSCardDriver.h,
 * links against libSSCardDriver.so and calls the national reader interface.
 *
 * Each argument is one call, made in order; each call prints one line
 * "<call> <return code> <pOutInfo>" (pOutInfo as the library wrote it: GBK by
 * default). The caller's buffers are followed by a guard area that must stay
 * untouched: a call that writes past SSCARD_OUTINFO_SIZE prints "OVERFLOW".
 *
 *   read     iReadCardBas(1, ...)
 *   step1    iReadCardBas_HSM_Step1(1, ...)
 *   step2    iReadCardBas_HSM_Step2(<a line read from stdin>, ...)
 *   verify   iVerifyPIN(1, ...)
 *   change   iChangePIN(1, ...)
 *   info     iGetReaderInfo(...): "info <rc> <reader>|<terminal number>"
 *   threads  two threads, 20 iReadCardBas each: "threads <failures> <distinct lines>"
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "SSCardDriver.h"

#define GUARD 64

struct out_buffer {
    char text[SSCARD_OUTINFO_SIZE];
    unsigned char guard[GUARD];
};

static void prepare(struct out_buffer *out) {
    memset(out->text, 'x', sizeof out->text);
    memset(out->guard, 0xA5, sizeof out->guard);
}

static int overflowed(const struct out_buffer *out) {
    for (int i = 0; i < GUARD; i++)
        if (out->guard[i] != 0xA5) return 1;
    return memchr(out->text, 0, sizeof out->text) == NULL;
}

static void report(const char *call, long rc, const struct out_buffer *out) {
    if (overflowed(out)) {
        printf("%s OVERFLOW\n", call);
    } else {
        printf("%s %ld %s\n", call, rc, out->text);
    }
    fflush(stdout);
}

#define ROUNDS 20

struct worker {
    pthread_t thread;
    int failures;
    char first[SSCARD_OUTINFO_SIZE];
    int differ;
};

static void *read_many(void *arg) {
    struct worker *w = arg;
    struct out_buffer out;
    for (int i = 0; i < ROUNDS; i++) {
        prepare(&out);
        long rc = iReadCardBas(1, out.text);
        if (rc != 0 || overflowed(&out)) {
            w->failures++;
            continue;
        }
        if (w->first[0] == 0)
            strcpy(w->first, out.text);
        else if (strcmp(w->first, out.text) != 0)
            w->differ++;
    }
    return NULL;
}

static void threads(void) {
    struct worker workers[2];
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < 2; i++) pthread_create(&workers[i].thread, NULL, read_many, &workers[i]);
    for (int i = 0; i < 2; i++) pthread_join(workers[i].thread, NULL);
    int failures = workers[0].failures + workers[1].failures;
    int distinct = 1 + (workers[0].differ + workers[1].differ > 0) +
                   (strcmp(workers[0].first, workers[1].first) != 0);
    printf("threads %d %d\n", failures, distinct);
    fflush(stdout);
}

int main(int argc, char **argv) {
    struct out_buffer out;
    for (int i = 1; i < argc; i++) {
        const char *call = argv[i];
        prepare(&out);
        if (strcmp(call, "read") == 0) {
            report(call, iReadCardBas(1, out.text), &out);
        } else if (strcmp(call, "step1") == 0) {
            report(call, iReadCardBas_HSM_Step1(1, out.text), &out);
        } else if (strcmp(call, "step2") == 0) {
            char key[256] = {0};
            if (fgets(key, sizeof key, stdin) == NULL) key[0] = 0;
            key[strcspn(key, "\r\n")] = 0;
            report(call, iReadCardBas_HSM_Step2(key, out.text), &out);
        } else if (strcmp(call, "verify") == 0) {
            report(call, iVerifyPIN(1, out.text), &out);
        } else if (strcmp(call, "change") == 0) {
            report(call, iChangePIN(1, out.text), &out);
        } else if (strcmp(call, "info") == 0) {
            char sn[SSCARD_READERINFO_SIZE] = {0};
            char term[SSCARD_READERINFO_SIZE] = {0};
            long rc = iGetReaderInfo(sn, term);
            printf("info %ld %s|%s\n", rc, sn, term);
            fflush(stdout);
        } else if (strcmp(call, "threads") == 0) {
            threads();
        } else {
            fprintf(stderr, "kiosk: unknown call %s\n", call);
            return 2;
        }
    }
    return 0;
}
