// A small C layer over libpci that Swift can call safely.
//
// - libpci's error hook is declared noreturn and its default calls exit(1); vfioctl_pci_open
//   installs a hook that longjmps back into the shim, so a libpci failure becomes a return code
//   and a message instead of ending the process.
// - pci_lookup_name is variadic, which Swift cannot call; one wrapper per lookup kind.
// - vfioctl_pci_read_caps reads a function's config space through libpci's own sysfs access
//   (sysfs.path under the injected root), then walks the capability lists with libpci.
#ifndef VFIOCTL_PCI_H
#define VFIOCTL_PCI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vfioctl_pci vfioctl_pci;

/// Opens libpci on `sysfs_path` (e.g. "<root>/sys/bus/pci") with names from `ids_path`
/// (NULL: libpci's default pci.ids). Returns NULL and fills `err` on failure.
vfioctl_pci *vfioctl_pci_open(const char *sysfs_path, const char *ids_path, char *err, int errlen);
void vfioctl_pci_close(vfioctl_pci *p);

/// The pci.ids file libpci will read names from (its default, or `ids_path`).
const char *vfioctl_pci_ids_path(vfioctl_pci *p);

/// The last warning libpci reported (empty if none); cleared by each call below.
const char *vfioctl_pci_last_warning(vfioctl_pci *p);

/// Loads pci.ids (which takes a while) ahead of the first lookup; returns 1 when it loaded.
int vfioctl_pci_load_names(vfioctl_pci *p);

/// Name lookups in pci.ids (udev's hwdb is not consulted, so results depend on pci.ids only).
/// Each returns 1 and fills buf when the id is known, 0 when not (or on a libpci error).
int vfioctl_pci_vendor_name(vfioctl_pci *p, char *buf, int size, uint16_t vendor);
int vfioctl_pci_device_name(vfioctl_pci *p, char *buf, int size, uint16_t vendor, uint16_t device);
int vfioctl_pci_subsystem_name(vfioctl_pci *p, char *buf, int size, uint16_t vendor, uint16_t device,
                               uint16_t subvendor, uint16_t subdevice);
int vfioctl_pci_subsystem_vendor_name(vfioctl_pci *p, char *buf, int size, uint16_t subvendor);
int vfioctl_pci_class_name(vfioctl_pci *p, char *buf, int size, uint16_t base_sub);
int vfioctl_pci_progif_name(vfioctl_pci *p, char *buf, int size, uint16_t base_sub, uint8_t progif);

/// One Resizable BAR entry (PCIe 7.8.6): sizes are powers of two from 1 MB (bit n: 1 MB << n).
typedef struct vfioctl_pci_rebar {
    uint8_t bar;             // BAR index (0-5)
    uint8_t current;         // current size: 1 MB << current
    uint64_t supported;      // bit n set: 1 MB << n supported (n 0-43: the capability's 28 bits, then the control's 16)
} vfioctl_pci_rebar;

/// What later checks need from config space. Fields are valid only when config_len > 0; the
/// capability fields only when caps_readable (a 64-byte read with a capability list leaves them
/// unknown, not absent), the extended ones only when ext_caps_read.
typedef struct vfioctl_pci_caps {
    int config_len;          // bytes of config space read (0: unreadable, 64: unprivileged, 256, 4096)
    uint16_t vendor_id;      // header registers, for trees that lack the sysfs attributes
    uint16_t device_id;
    uint32_t class_code;     // base, sub, prog-if
    uint8_t revision;
    uint16_t subsystem_vendor_id; // header type 0 only (type 2, CardBus: at 0x40)
    uint16_t subsystem_device_id;
    uint8_t header_type;     // raw header type byte (bit 7: multifunction)
    uint32_t bars[6];        // raw BAR registers (type 0: six, type 1: two, type 2: one); flags in the low bits
    uint8_t has_cap_list;    // status register says there is a capability list
    uint8_t caps_readable;   // the capability list was read (or there is none): absent means absent
    uint8_t has_pcie;        // PCI Express capability present
    uint8_t pcie_type;       // Device/Port type from the PCIe capability flags
    uint8_t devcap_flr;      // DevCap bit 28: Function Level Reset
    uint8_t has_link;        // the PCIe capability describes a link (not an RC integrated endpoint or event collector)
    uint8_t link_cap_speed;  // LnkCap Max Link Speed (1: 2.5 GT/s, 2: 5, 3: 8, 4: 16, 5: 32, 6: 64)
    uint8_t link_cap_width;  // LnkCap Maximum Link Width (x1..x32)
    uint8_t link_sta_speed;  // LnkSta Current Link Speed
    uint8_t link_sta_width;  // LnkSta Negotiated Link Width
    uint8_t has_af;          // Advanced Features capability present
    uint8_t af_flr;          // AF capability: FLR supported
    uint8_t has_pm;          // Power Management capability present
    uint8_t pm_no_soft_reset;// PMCSR No_Soft_Reset bit
    uint8_t has_msi;         // MSI capability present
    uint16_t msi_ctrl;       // MSI Message Control (Multiple Message Capable in bits 3:1, 64-bit bit 7, maskable bit 8)
    uint8_t has_msix;        // MSI-X capability present
    uint16_t msix_ctrl;      // MSI-X Message Control (Table Size - 1 in bits 10:0, enable bit 15)
    uint8_t has_acs;         // ACS extended capability present
    uint8_t ext_caps_read;   // extended config space (>= 4096 bytes) was readable
    uint16_t acs_cap;        // ACS Capability register
    uint16_t acs_ctrl;       // ACS Control register
    uint16_t acs_spt_ctrl;   // the word at ACS + 8: Intel Sunrise Point root ports keep their control there (INTEL_SPT_ACS_CTRL)
    uint8_t has_sriov;       // SR-IOV extended capability present
    uint16_t sriov_initial_vfs;
    uint16_t sriov_total_vfs;
    uint16_t sriov_num_vfs;
    uint16_t sriov_offset;   // First VF Offset
    uint16_t sriov_stride;   // VF Stride
    uint16_t sriov_vf_device;// VF Device ID
    uint8_t has_ari;         // ARI extended capability present
    uint8_t has_dsn;         // Device Serial Number extended capability present
    uint64_t dsn;            // the serial number (upper dword at +8, lower at +4)
    uint8_t rebar_count;     // Resizable BAR entries (0-6)
    vfioctl_pci_rebar rebar[6];
} vfioctl_pci_caps;

/// Reads config space of domain:bus:dev.func through libpci's sysfs access (trying `size_hint`,
/// then 256, then 64 bytes) and decodes it into `out`. Returns 1 when some config space was read.
int vfioctl_pci_read_caps(vfioctl_pci *p, unsigned int domain, int bus, int dev, int func,
                          int size_hint, vfioctl_pci_caps *out);

/// Decodes config space bytes the caller already read (`len` of 64, 256 or 4096): libpci walks
/// the capability lists over them (pci_setup_cache), so no further I/O happens. Returns 1 on
/// success, 0 when `len` is under 64 or libpci failed.
int vfioctl_pci_decode_caps(vfioctl_pci *p, unsigned int domain, int bus, int dev, int func,
                            const uint8_t *config, int len, vfioctl_pci_caps *out);

#ifdef __cplusplus
}
#endif
#endif
