/* Runs a libFuzzer target over files, without libFuzzer: `make test` builds every target in
 * tests/fuzz/ with this main and replays its corpus (tests/fuzz/corpus/NAME), so the targets
 * keep compiling and every input that once found a bug stays a regression test, on machines
 * without clang. A target reports a finding by aborting. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        size_t cap = 1 << 16, n = 0, got;
        unsigned char *buf = malloc(cap);
        while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
            n += got;
            if (n == cap) {
                unsigned char *bigger = realloc(buf, cap *= 2);
                if (!bigger) free(buf);
                buf = bigger;
            }
        }
        fclose(f);
        if (!buf) {
            fprintf(stderr, "%s: out of memory\n", argv[i]);
            return 2;
        }
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    printf("replayed %d input(s)\n", argc - 1);
    return 0;
}
