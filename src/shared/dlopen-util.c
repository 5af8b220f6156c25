/* SPDX-License-Identifier: MIT */
#include "dlopen-util.h"

#include <dlfcn.h>
#include <errno.h>

#include "log.h"

int dlopen_many_sym(const char *soname, const DlSym *syms, size_t n) {
        /* never unloaded: the pointers stay valid for the process */
        void *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl) {
                log_error("Cannot load %s: %s", soname, dlerror());
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < n; i++) {
                void *f = dlsym(dl, syms[i].name);
                if (!f) {
                        log_error("Cannot load %s: symbol %s missing", soname, syms[i].name);
                        for (size_t j = 0; j < i; j++)
                                *syms[j].fn = NULL;
                        dlclose(dl);
                        return -EOPNOTSUPP;
                }
                *syms[i].fn = f;
        }
        return 0;
}
