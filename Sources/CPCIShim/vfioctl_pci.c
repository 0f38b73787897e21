#include "vfioctl_pci.h"

#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PCI_PM_CTRL_NO_SOFT_RESET
#define PCI_PM_CTRL_NO_SOFT_RESET 0x0008 // PMCSR bit 3 (PCI PM 1.2); not in every libpci header
#endif

struct vfioctl_pci {
    struct pci_access *access;
    jmp_buf trap;
    int trap_armed;
    char error[256];
    char warning[256];
};

// libpci hooks carry no user pointer, so the active handle is per thread. Each vfioctl_pci is
// used by one thread at a time (the Swift side keeps one handle per worker).
static __thread struct vfioctl_pci *current;

static void trap_error(char *msg, ...) __attribute__((noreturn));
static void trap_error(char *msg, ...) {
    struct vfioctl_pci *p = current;
    va_list ap;
    if (!p || !p->trap_armed) {
        // Not inside a shim call: there is nowhere to return to. libpci only reports errors from
        // inside its entry points, which the shim always arms, so this is a programming error.
        abort();
    }
    va_start(ap, msg);
    vsnprintf(p->error, sizeof p->error, msg, ap);
    va_end(ap);
    longjmp(p->trap, 1);
}

static void keep_warning(char *msg, ...) {
    struct vfioctl_pci *p = current;
    va_list ap;
    if (!p)
        return;
    va_start(ap, msg);
    vsnprintf(p->warning, sizeof p->warning, msg, ap);
    va_end(ap);
}

static void ignore_debug(char *msg, ...) { (void)msg; }

#define ARM(p, failure)               \
    current = (p);                    \
    (p)->warning[0] = 0;              \
    (p)->trap_armed = 1;              \
    if (setjmp((p)->trap)) {          \
        (p)->trap_armed = 0;          \
        return failure;               \
    }
#define DISARM(p) ((p)->trap_armed = 0)

vfioctl_pci *vfioctl_pci_open(const char *sysfs_path, const char *ids_path, char *err, int errlen) {
    struct vfioctl_pci *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    current = p;
    p->trap_armed = 1;
    if (setjmp(p->trap)) {
        snprintf(err, errlen, "%s", p->error);
        if (p->access)
            pci_cleanup(p->access);
        free(p);
        current = NULL;
        return NULL;
    }
    p->access = pci_alloc();
    p->access->error = trap_error;
    p->access->warning = keep_warning;
    p->access->debug = ignore_debug;
    p->access->method = PCI_ACCESS_SYS_BUS_PCI;
    p->access->id_lookup_mode = PCI_LOOKUP_NO_HWDB;
    pci_set_param(p->access, "sysfs.path", (char *)sysfs_path);
    if (ids_path)
        pci_set_name_list_path(p->access, strdup(ids_path), 1);
    pci_init(p->access);
    p->trap_armed = 0;
    return p;
}

void vfioctl_pci_close(vfioctl_pci *p) {
    if (!p)
        return;
    current = p;
    p->trap_armed = 1;
    if (!setjmp(p->trap))
        pci_cleanup(p->access);
    p->trap_armed = 0;
    current = NULL;
    free(p);
}

const char *vfioctl_pci_last_warning(vfioctl_pci *p) { return p->warning; }

const char *vfioctl_pci_ids_path(vfioctl_pci *p) { return p->access->id_file_name; }

int vfioctl_pci_load_names(vfioctl_pci *p) {
    int loaded;
    ARM(p, 0);
    loaded = pci_load_name_list(p->access);
    DISARM(p);
    return loaded;
}

static int copy_name(char *buf, int size, const char *name) {
    if (!name)
        return 0;
    if (name != buf)
        snprintf(buf, size, "%s", name);
    return 1;
}

#define LOOKUP(p, buf, size, flags, ...)                                                   \
    do {                                                                                   \
        ARM(p, 0);                                                                         \
        char *name = pci_lookup_name((p)->access, buf, size, (flags) | PCI_LOOKUP_NO_NUMBERS, \
                                     __VA_ARGS__);                                         \
        DISARM(p);                                                                         \
        return copy_name(buf, size, name);                                                 \
    } while (0)

int vfioctl_pci_vendor_name(vfioctl_pci *p, char *buf, int size, uint16_t vendor) {
    LOOKUP(p, buf, size, PCI_LOOKUP_VENDOR, (int)vendor);
}

int vfioctl_pci_device_name(vfioctl_pci *p, char *buf, int size, uint16_t vendor, uint16_t device) {
    LOOKUP(p, buf, size, PCI_LOOKUP_DEVICE, (int)vendor, (int)device);
}

int vfioctl_pci_subsystem_name(vfioctl_pci *p, char *buf, int size, uint16_t vendor, uint16_t device,
                               uint16_t subvendor, uint16_t subdevice) {
    LOOKUP(p, buf, size, PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_DEVICE, (int)vendor, (int)device,
           (int)subvendor, (int)subdevice);
}

int vfioctl_pci_subsystem_vendor_name(vfioctl_pci *p, char *buf, int size, uint16_t subvendor) {
    LOOKUP(p, buf, size, PCI_LOOKUP_SUBSYSTEM | PCI_LOOKUP_VENDOR, (int)subvendor);
}

int vfioctl_pci_class_name(vfioctl_pci *p, char *buf, int size, uint16_t base_sub) {
    LOOKUP(p, buf, size, PCI_LOOKUP_CLASS, (int)base_sub);
}

int vfioctl_pci_progif_name(vfioctl_pci *p, char *buf, int size, uint16_t base_sub, uint8_t progif) {
    LOOKUP(p, buf, size, PCI_LOOKUP_PROGIF, (int)base_sub, (int)progif);
}

#define CB_CAPABILITY_LIST 0x14      // CardBus header: capability list pointer (PCI_CB_CAPABILITY_LIST)
#define CB_SUBSYSTEM_VENDOR_ID 0x40  // CardBus header: subsystem ids

// A traditional capability. libpci always starts the list at 0x34; a CardBus bridge (header
// type 2) keeps its pointer at 0x14, where the kernel starts it too (__pci_bus_find_cap_start),
// so for those the list is walked here, with the kernel's bound of 48 entries.
static int trad_cap(struct pci_dev *d, int header, int id) {
    struct pci_cap *cap;
    if (header != PCI_HEADER_TYPE_CARDBUS)
        return (cap = pci_find_cap(d, id, PCI_CAP_NORMAL)) ? (int)cap->addr : 0;
    int where = pci_read_byte(d, CB_CAPABILITY_LIST);
    for (int ttl = 48; ttl > 0 && where >= 0x40; ttl--) {
        where &= ~3;
        int found = pci_read_byte(d, where);
        if (found == 0xff)
            break;
        if (found == id)
            return where;
        where = pci_read_byte(d, where + 1);
    }
    return 0;
}

static void decode_rebar(struct pci_dev *d, int where, vfioctl_pci_caps *out) {
    // Entry 0's control register says how many entries there are (1-6); lspci stops otherwise.
    int count = (pci_read_long(d, where + 8) >> 5) & 7;
    if (count < 1 || count > 6)
        return;
    for (int i = 0; i < count; i++) {
        uint32_t sizes = pci_read_long(d, where + 4 + 8 * i) >> 4;
        uint32_t control = pci_read_long(d, where + 8 + 8 * i);
        vfioctl_pci_rebar *entry = &out->rebar[i];
        entry->bar = control & 7;
        entry->current = (control >> 8) & 0x3f;
        entry->supported = (uint64_t)(sizes & 0x0fffffff) | (uint64_t)(control >> 16) << 28;
    }
    out->rebar_count = (uint8_t)count;
}

// Fills `out` from a pci_dev whose cache holds `len` bytes of config space.
static void decode(struct pci_dev *d, int len, vfioctl_pci_caps *out) {
    struct pci_cap *cap;
    int where, header, bars;
    out->config_len = len;
    out->vendor_id = pci_read_word(d, PCI_VENDOR_ID);
    out->device_id = pci_read_word(d, PCI_DEVICE_ID);
    out->class_code = (uint32_t)pci_read_word(d, PCI_CLASS_DEVICE) << 8 | pci_read_byte(d, PCI_CLASS_PROG);
    out->revision = pci_read_byte(d, PCI_REVISION_ID);
    out->header_type = pci_read_byte(d, PCI_HEADER_TYPE);
    header = out->header_type & 0x7f;
    if (header == PCI_HEADER_TYPE_NORMAL) {
        out->subsystem_vendor_id = pci_read_word(d, PCI_SUBSYSTEM_VENDOR_ID);
        out->subsystem_device_id = pci_read_word(d, PCI_SUBSYSTEM_ID);
    }
    bars = header == PCI_HEADER_TYPE_NORMAL ? 6 : header == PCI_HEADER_TYPE_BRIDGE ? 2 : header == PCI_HEADER_TYPE_CARDBUS ? 1 : 0;
    for (int i = 0; i < bars; i++)
        out->bars[i] = pci_read_long(d, PCI_BASE_ADDRESS_0 + 4 * i);
    out->has_cap_list = (pci_read_word(d, PCI_STATUS) & PCI_STATUS_CAP_LIST) != 0;
    // With only the 64-byte header (unprivileged readers) a capability list is out of reach:
    // its facts stay unknown. Without a list, there is nothing to miss.
    out->caps_readable = !out->has_cap_list || len >= 256;
    if (header == PCI_HEADER_TYPE_CARDBUS && len >= 256) {
        out->subsystem_vendor_id = pci_read_word(d, CB_SUBSYSTEM_VENDOR_ID);
        out->subsystem_device_id = pci_read_word(d, CB_SUBSYSTEM_VENDOR_ID + 2);
    }
    out->ext_caps_read = len >= 4096;
    if (!out->has_cap_list || len < 256)
        return;
    pci_fill_info(d, PCI_FILL_CAPS | (len >= 4096 ? PCI_FILL_EXT_CAPS : 0));
    if ((where = trad_cap(d, header, PCI_CAP_ID_EXP))) {
        uint16_t flags = pci_read_word(d, where + PCI_EXP_FLAGS);
        uint32_t devcap = pci_read_long(d, where + PCI_EXP_DEVCAP);
        out->has_pcie = 1;
        out->pcie_type = (flags & PCI_EXP_FLAGS_TYPE) >> 4;
        out->devcap_flr = (devcap & PCI_EXP_DEVCAP_FLRESET) != 0;
        // As lspci: an RC integrated endpoint or event collector has no link of its own.
        if (out->pcie_type != PCI_EXP_TYPE_ROOT_INT_EP && out->pcie_type != PCI_EXP_TYPE_ROOT_EC) {
            uint32_t lnkcap = pci_read_long(d, where + PCI_EXP_LNKCAP);
            uint16_t lnksta = pci_read_word(d, where + PCI_EXP_LNKSTA);
            out->has_link = 1;
            out->link_cap_speed = lnkcap & PCI_EXP_LNKCAP_SPEED;
            out->link_cap_width = (lnkcap & PCI_EXP_LNKCAP_WIDTH) >> 4;
            out->link_sta_speed = lnksta & PCI_EXP_LNKSTA_SPEED;
            out->link_sta_width = (lnksta & PCI_EXP_LNKSTA_WIDTH) >> 4;
        }
    }
    if ((where = trad_cap(d, header, PCI_CAP_ID_AF))) {
        out->has_af = 1;
        out->af_flr = (pci_read_byte(d, where + PCI_AF_CAP) & PCI_AF_CAP_FLR) != 0;
    }
    if ((where = trad_cap(d, header, PCI_CAP_ID_PM))) {
        out->has_pm = 1;
        out->pm_no_soft_reset = (pci_read_word(d, where + PCI_PM_CTRL) & PCI_PM_CTRL_NO_SOFT_RESET) != 0;
    }
    if ((where = trad_cap(d, header, PCI_CAP_ID_MSI))) {
        out->has_msi = 1;
        out->msi_ctrl = pci_read_word(d, where + PCI_MSI_FLAGS);
    }
    if ((where = trad_cap(d, header, PCI_CAP_ID_MSIX))) {
        out->has_msix = 1;
        out->msix_ctrl = pci_read_word(d, where + PCI_MSI_FLAGS);
    }
    if (len >= 4096) {
        if ((cap = pci_find_cap(d, PCI_EXT_CAP_ID_ACS, PCI_CAP_EXTENDED))) {
            out->has_acs = 1;
            out->acs_cap = pci_read_word(d, cap->addr + PCI_ACS_CAP);
            out->acs_ctrl = pci_read_word(d, cap->addr + PCI_ACS_CTRL);
            out->acs_spt_ctrl = pci_read_word(d, cap->addr + PCI_ACS_CAP + 4);
        }
        if ((cap = pci_find_cap(d, PCI_EXT_CAP_ID_SRIOV, PCI_CAP_EXTENDED))) {
            out->has_sriov = 1;
            out->sriov_initial_vfs = pci_read_word(d, cap->addr + PCI_IOV_INITIALVF);
            out->sriov_total_vfs = pci_read_word(d, cap->addr + PCI_IOV_TOTALVF);
            out->sriov_num_vfs = pci_read_word(d, cap->addr + PCI_IOV_NUMVF);
            out->sriov_offset = pci_read_word(d, cap->addr + PCI_IOV_OFFSET);
            out->sriov_stride = pci_read_word(d, cap->addr + PCI_IOV_STRIDE);
            out->sriov_vf_device = pci_read_word(d, cap->addr + PCI_IOV_DID);
        }
        out->has_ari = pci_find_cap(d, PCI_EXT_CAP_ID_ARI, PCI_CAP_EXTENDED) != NULL;
        if ((cap = pci_find_cap(d, PCI_EXT_CAP_ID_DSN, PCI_CAP_EXTENDED))) {
            out->has_dsn = 1;
            out->dsn = (uint64_t)pci_read_long(d, cap->addr + 8) << 32 | pci_read_long(d, cap->addr + 4);
        }
        if ((cap = pci_find_cap(d, PCI_EXT_CAP_ID_REBAR, PCI_CAP_EXTENDED)))
            decode_rebar(d, cap->addr, out);
    }
}

int vfioctl_pci_read_caps(vfioctl_pci *p, unsigned int domain, int bus, int dev, int func,
                          int size_hint, vfioctl_pci_caps *out) {
    static const int fallbacks[] = {256, 64};
    uint8_t config[4096]; // serves as the pci_dev's register cache until pci_free_dev
    struct pci_dev *d;
    int len = 0;

    memset(out, 0, sizeof *out);
    ARM(p, 0);
    d = pci_get_dev(p->access, (int)domain, bus, dev, func);
    if (size_hint > 4096)
        size_hint = 4096;
    if (size_hint >= 64 && pci_read_block(d, 0, config, size_hint))
        len = size_hint;
    for (unsigned i = 0; !len && i < sizeof fallbacks / sizeof fallbacks[0]; i++)
        if (fallbacks[i] < size_hint || size_hint < 64)
            if (pci_read_block(d, 0, config, fallbacks[i]))
                len = fallbacks[i];
    if (len) {
        pci_setup_cache(d, config, len);
        decode(d, len, out);
    }
    pci_free_dev(d);
    DISARM(p);
    return len > 0;
}

int vfioctl_pci_decode_caps(vfioctl_pci *p, unsigned int domain, int bus, int dev, int func,
                            const uint8_t *config, int len, vfioctl_pci_caps *out) {
    uint8_t cache[4096];
    struct pci_dev *d;

    memset(out, 0, sizeof *out);
    if (len < 64)
        return 0;
    if (len > 4096)
        len = 4096;
    // Only the standard sizes: a read past the cache would go back to sysfs.
    len = len >= 4096 ? 4096 : len >= 256 ? 256 : 64;
    memcpy(cache, config, len);
    ARM(p, 0);
    d = pci_get_dev(p->access, (int)domain, bus, dev, func);
    pci_setup_cache(d, cache, len);
    decode(d, len, out);
    pci_free_dev(d);
    DISARM(p);
    return 1;
}
