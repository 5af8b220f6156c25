/* SPDX-License-Identifier: MIT */
/* The floor for cold start: a bare program that only dlopen()s the files given. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++)
                if (!dlopen(argv[i], RTLD_NOW | RTLD_LOCAL))
                        return fprintf(stderr, "%s\n", dlerror()), 1;
        return 0;
}
