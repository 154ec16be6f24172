// Loads FFmpeg's shared libraries on the first video decode instead of at process start: linked
// into `seer`, libavcodec & co. and ~120 libraries they need were mapped by every process, even one
// that never decodes video. The sonames come from the headers Seer is compiled against, so the
// struct layouts Swift reads and the loaded libraries always belong to the same major version.
#include "seer_ffmpeg.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <libavcodec/version_major.h>
#include <libavformat/version_major.h>
#include <libavutil/macros.h>
#include <libavutil/version.h>
#include <libswscale/version_major.h>

#define SONAME(name, major) "lib" name ".so." AV_STRINGIFY(major)

static const char *const sonames[SEER_FFMPEG_LIBRARY_COUNT] = {
    [SEER_AVUTIL] = SONAME("avutil", LIBAVUTIL_VERSION_MAJOR),
    [SEER_SWSCALE] = SONAME("swscale", LIBSWSCALE_VERSION_MAJOR),
    [SEER_AVCODEC] = SONAME("avcodec", LIBAVCODEC_VERSION_MAJOR),
    [SEER_AVFORMAT] = SONAME("avformat", LIBAVFORMAT_VERSION_MAJOR),
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static seer_ffmpeg functions;
static const seer_ffmpeg *loaded;
static char load_error[512];

static int open_libraries(void *handles[SEER_FFMPEG_LIBRARY_COUNT]) {
    for (int library = 0; library < SEER_FFMPEG_LIBRARY_COUNT; library++) {
        handles[library] = dlopen(sonames[library], RTLD_NOW | RTLD_LOCAL);
        if (!handles[library]) {
            snprintf(load_error, sizeof load_error, "cannot load %s: %s", sonames[library], dlerror());
            while (library-- > 0) dlclose(handles[library]);
            return 0;
        }
    }
    return 1;
}

static int resolve(void *handle, enum seer_ffmpeg_library library, const char *name, void **function) {
    *function = dlsym(handle, name);
    if (*function) return 1;
    snprintf(load_error, sizeof load_error, "%s has no function %s", sonames[library], name);
    return 0;
}

#define SEER_RESOLVE(library, name) \
    if (!resolve(handles[library], library, #name, (void **)&functions.name)) return;

static void load(void) {
    void *handles[SEER_FFMPEG_LIBRARY_COUNT];
    if (!open_libraries(handles)) return;
    SEER_FFMPEG_FUNCTIONS(SEER_RESOLVE)
    functions.av_log_set_level(AV_LOG_QUIET);
    loaded = &functions;
}

const seer_ffmpeg *seer_ffmpeg_load(void) {
    pthread_once(&load_once, load);
    return loaded;
}

const char *seer_ffmpeg_load_error(void) {
    pthread_once(&load_once, load);
    return load_error;
}
