// A small C layer over libnl-route-3 for SR-IOV VF attributes, which Swift can call safely.
//
// - One rtnetlink socket, opened once and reused for every request (vfioctl_nl_open).
// - Reading: RTM_GETLINK for one link with IFLA_EXT_MASK = RTEXT_FILTER_VF (without it the
//   kernel leaves IFLA_VFINFO_LIST out); the reply is parsed by libnl (nl_msg_parse into an
//   rtnl_link) and read with rtnl_link_vf_*. Replies of any size: the socket peeks first.
// - Writing: one RTM_SETLINK on the PF per attribute (the kernel stops at the first attribute
//   that fails, so one request per attribute is the only way to know which one failed), built
//   with libnl's message API: IFLA_VFINFO_LIST { IFLA_VF_INFO { one IFLA_VF_* } }. Not through
//   rtnl_link_change: it sends RTM_NEWLINK first, and libnl 3.7 puts IFLA_VF_VLAN_INFO's
//   vlan_proto into the message in host byte order, where the kernel wants network order.
// - Failures keep the kernel's errno (libnl's own error codes fold several errnos into one) and
//   the extended ack message when the kernel sends one.
#ifndef VFIOCTL_NL_H
#define VFIOCTL_NL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vfioctl_nl vfioctl_nl;

/// Why a request failed. `code` is a positive errno (the kernel's, or a local system call's);
/// `nle` is set instead when libnl itself failed (out of memory, a reply it could not parse).
typedef struct vfioctl_nl_error {
    int code;
    int nle;
    char message[256];   // the kernel's extended ack text, or libnl's description; "" if none
} vfioctl_nl_error;

/// Opens a NETLINK_ROUTE socket (extended acks asked for). NULL and `err` filled on failure.
vfioctl_nl *vfioctl_nl_open(vfioctl_nl_error *err);
void vfioctl_nl_close(vfioctl_nl *nl);

/// The socket's descriptor and how many requests went through it (for tests that prove reuse).
int vfioctl_nl_fd(const vfioctl_nl *nl);
unsigned long vfioctl_nl_requests(const vfioctl_nl *nl);

/// One VF as the kernel reports it in IFLA_VF_INFO. Fields the kernel (or driver) did not
/// report: has_* = 0, or -1 for the tri-state ones.
typedef struct vfioctl_vf_info {
    uint32_t index;
    uint8_t has_mac;
    uint8_t mac[6];
    uint8_t has_vlan;
    uint32_t vlan;
    uint32_t qos;
    uint16_t vlan_proto;     // host byte order: 0x8100 (802.1Q) or 0x88a8 (802.1ad)
    int32_t spoofchk;        // 1, 0, or -1: not reported by the driver
    int32_t trust;           // 1, 0, or -1
    int32_t link_state;      // 0 auto, 1 enable, 2 disable, or -1
    uint32_t min_tx_rate;    // Mbit/s, 0: no limit
    uint32_t max_tx_rate;
} vfioctl_vf_info;

/// A link as the kernel reports it.
typedef struct vfioctl_nl_link {
    int ifindex;
    int num_vfs;             // IFLA_NUM_VF; -1 when the link reports none (no parent device)
    char name[16];           // IFNAMSIZ
    unsigned int flags;      // IFF_* (IFF_UP = 1)
    uint8_t has_addr;        // IFLA_ADDRESS: the current MAC (6 octets; other link types: 0)
    uint8_t addr[6];
    uint8_t has_perm_addr;   // IFLA_PERM_ADDRESS: the permanent MAC, when the driver has one
    uint8_t perm_addr[6];
} vfioctl_nl_link;

/// Reads a link with its VFs: by `name`, or by `ifindex` when `name` is NULL. Fills `link`, up
/// to `capacity` VFs into `out` in index order and their number into `count`. When `count` >
/// `capacity`, call again with room for `count`. Returns 0, or -1 with `err` filled (ENODEV: no
/// such link).
int vfioctl_nl_get_vfs(vfioctl_nl *nl, const char *name, int ifindex, vfioctl_nl_link *link,
                       vfioctl_vf_info *out, int capacity, int *count, vfioctl_nl_error *err);

/// One settable VF attribute.
enum {
    VFIOCTL_VF_MAC = 1,        // mac
    VFIOCTL_VF_VLAN = 2,       // vlan, qos, vlan_proto (0x8100: IFLA_VF_VLAN; else IFLA_VF_VLAN_LIST)
    VFIOCTL_VF_SPOOFCHK = 3,   // value 0/1
    VFIOCTL_VF_TRUST = 4,      // value 0/1
    VFIOCTL_VF_LINK_STATE = 5, // value 0 auto, 1 enable, 2 disable
    VFIOCTL_VF_RATE = 6,       // min_tx_rate, max_tx_rate (Mbit/s)
};

typedef struct vfioctl_vf_setting {
    int kind;
    uint32_t vf;
    uint8_t mac[6];
    uint32_t vlan;
    uint32_t qos;
    uint16_t vlan_proto;     // host byte order
    uint32_t value;
    uint32_t min_tx_rate;
    uint32_t max_tx_rate;
} vfioctl_vf_setting;

/// Sets one attribute of one VF of link `name` (RTM_SETLINK, acknowledged). Returns 0, or -1
/// with `err` filled with the kernel's errno and extended ack text.
int vfioctl_nl_set_vf(vfioctl_nl *nl, const char *name, const vfioctl_vf_setting *setting,
                      vfioctl_nl_error *err);

/// The request vfioctl_nl_set_vf sends (sequence number and port id 0), for tests: copies up to
/// `size` bytes into `buf` and returns the message's length, or -1 for an unknown kind.
int vfioctl_nl_encode_set(const char *name, const vfioctl_vf_setting *setting, uint8_t *buf, int size);

/// The request vfioctl_nl_get_vfs sends, likewise.
int vfioctl_nl_encode_get(const char *name, int ifindex, uint8_t *buf, int size);

#ifdef __cplusplus
}
#endif
#endif
