#define _GNU_SOURCE
#include "vfioctl_sys.h"

#include <fcntl.h>
#include <malloc.h>

int vfioctl_o_path(void) { return O_PATH; }

void vfioctl_tune_malloc(void) {
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}
