// See include/vfioctl_nl.h.
#include "vfioctl_nl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLMSGERR_ATTR_MSG
#define NLMSGERR_ATTR_MSG 1
#endif
#ifndef IFLA_PERM_ADDRESS
#define IFLA_PERM_ADDRESS 54
#endif
#ifndef RTEXT_FILTER_SKIP_STATS
#define RTEXT_FILTER_SKIP_STATS (1 << 3)
#endif

struct vfioctl_nl {
    struct nl_sock *sk;
    struct nl_cb *cb;
    unsigned long requests;
};

// What one request's replies said.
struct reply {
    int done;               // the ack (or an error) arrived
    int code;               // the kernel's errno (positive), 0 if none
    int nle;                // libnl failed parsing a reply
    char message[256];      // extended ack text
    struct rtnl_link *link; // the parsed RTM_NEWLINK reply (a reference), for reads
    int has_perm_addr;      // IFLA_PERM_ADDRESS (libnl 3.7 does not parse it)
    uint8_t perm_addr[6];
};

static void clear_error(vfioctl_nl_error *err) {
    if (!err) return;
    err->code = 0;
    err->nle = 0;
    err->message[0] = '\0';
}

static void set_nle(vfioctl_nl_error *err, int nle, int saved_errno) {
    if (!err) return;
    if (nle < 0) nle = -nle;
    err->nle = nle;
    // A failed system call under libnl leaves errno: keep it, it says more than NLE_*.
    err->code = (nle == NLE_NOMEM) ? ENOMEM : saved_errno;
    snprintf(err->message, sizeof(err->message), "%s", nl_geterror(nle));
}

vfioctl_nl *vfioctl_nl_open(vfioctl_nl_error *err) {
    clear_error(err);
    vfioctl_nl *nl = calloc(1, sizeof(*nl));
    if (!nl) {
        if (err) err->code = ENOMEM;
        return NULL;
    }
    nl->sk = nl_socket_alloc();
    nl->cb = nl_cb_alloc(NL_CB_DEFAULT);
    if (!nl->sk || !nl->cb) {
        if (err) err->code = ENOMEM;
        vfioctl_nl_close(nl);
        return NULL;
    }
    errno = 0;
    int r = nl_connect(nl->sk, NETLINK_ROUTE);
    if (r < 0) {
        set_nle(err, r, errno);
        vfioctl_nl_close(nl);
        return NULL;
    }
    // Replies as large as they come (a PF with hundreds of VFs): peek at each one's size first.
    nl_socket_enable_msg_peek(nl->sk);
    nl_socket_set_buffer_size(nl->sk, 1 << 20, 0);
    int one = 1;
    int fd = nl_socket_get_fd(nl->sk);
    // Both are optional: an older kernel just sends no extended ack text.
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    return nl;
}

void vfioctl_nl_close(vfioctl_nl *nl) {
    if (!nl) return;
    if (nl->sk) nl_socket_free(nl->sk);
    if (nl->cb) nl_cb_put(nl->cb);
    free(nl);
}

int vfioctl_nl_fd(const vfioctl_nl *nl) { return nl ? nl_socket_get_fd(nl->sk) : -1; }

unsigned long vfioctl_nl_requests(const vfioctl_nl *nl) { return nl ? nl->requests : 0; }

// MARK: replies

static void take_link(struct nl_object *object, void *arg) {
    struct reply *reply = arg;
    if (reply->link) return;
    nl_object_get(object);
    reply->link = (struct rtnl_link *)object;
}

static int on_valid(struct nl_msg *msg, void *arg) {
    struct reply *reply = arg;
    if (nlmsg_hdr(msg)->nlmsg_type == RTM_NEWLINK) {
        struct nlattr *perm = nlmsg_find_attr(nlmsg_hdr(msg), sizeof(struct ifinfomsg), IFLA_PERM_ADDRESS);
        if (perm && !reply->link && nla_len(perm) >= 6) {
            memcpy(reply->perm_addr, nla_data(perm), 6);
            reply->has_perm_addr = 1;
        }
        int r = nl_msg_parse(msg, take_link, reply);
        if (r < 0) reply->nle = -r;
    }
    return NL_OK;
}

static int on_ack(struct nl_msg *msg, void *arg) {
    (void)msg;
    struct reply *reply = arg;
    reply->done = 1;
    return NL_STOP;
}

// The extended ack's NLMSGERR_ATTR_MSG, when the kernel attached one.
static void read_ext_ack(struct nlmsgerr *e, struct reply *reply) {
    struct nlmsghdr *hdr = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
    if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return;
    size_t offset = sizeof(*e);
    if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += e->msg.nlmsg_len - NLMSG_HDRLEN;
    offset = NLMSG_ALIGN(offset);
    size_t total = hdr->nlmsg_len - NLMSG_HDRLEN;
    if (offset >= total) return;
    struct nlattr *tb[NLMSGERR_ATTR_MSG + 1];
    if (nla_parse(tb, NLMSGERR_ATTR_MSG, (struct nlattr *)((char *)e + offset), (int)(total - offset), NULL) < 0) return;
    if (tb[NLMSGERR_ATTR_MSG]) {
        const char *text = nla_data(tb[NLMSGERR_ATTR_MSG]);
        int length = nla_len(tb[NLMSGERR_ATTR_MSG]);
        if (length > 0) snprintf(reply->message, sizeof(reply->message), "%.*s", length, text);
    }
}

static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg) {
    (void)who;
    struct reply *reply = arg;
    reply->code = -e->error;
    reply->done = 1;
    read_ext_ack(e, reply);
    return NL_STOP;
}

// Sends `msg` on the one socket and reads until the kernel's ack or error.
static int roundtrip(vfioctl_nl *nl, struct nl_msg *msg, struct reply *reply, vfioctl_nl_error *err) {
    nl_cb_set(nl->cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, reply);
    nl_cb_set(nl->cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, reply);
    nl_cb_err(nl->cb, NL_CB_CUSTOM, on_error, reply);
    nl->requests++;
    errno = 0;
    int r = nl_send_auto(nl->sk, msg);
    if (r < 0) {
        set_nle(err, r, errno);
        return -1;
    }
    while (!reply->done) {
        errno = 0;
        r = nl_recvmsgs(nl->sk, nl->cb);
        if (reply->code) break;
        if (r < 0) {
            set_nle(err, r, errno);
            return -1;
        }
    }
    if (reply->code) {
        if (err) {
            err->code = reply->code;
            snprintf(err->message, sizeof(err->message), "%s", reply->message);
        }
        return -1;
    }
    if (reply->nle) {
        set_nle(err, reply->nle, 0);
        return -1;
    }
    return 0;
}

// MARK: requests

static struct nl_msg *build_get(const char *name, int ifindex) {
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
    if (!msg) return NULL;
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof(ifi));
    ifi.ifi_family = AF_UNSPEC;
    if (!name) ifi.ifi_index = ifindex;
    if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
        (name && nla_put_string(msg, IFLA_IFNAME, name) < 0) ||
        // Without RTEXT_FILTER_VF the kernel sends neither IFLA_NUM_VF nor IFLA_VFINFO_LIST;
        // per-VF packet counters are not needed and only make the reply larger.
        nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS) < 0) {
        nlmsg_free(msg);
        return NULL;
    }
    return msg;
}

static int put_setting(struct nl_msg *msg, const vfioctl_vf_setting *s) {
    switch (s->kind) {
    case VFIOCTL_VF_MAC: {
        struct ifla_vf_mac mac;
        memset(&mac, 0, sizeof(mac));
        mac.vf = s->vf;
        memcpy(mac.mac, s->mac, 6);
        return nla_put(msg, IFLA_VF_MAC, sizeof(mac), &mac);
    }
    case VFIOCTL_VF_VLAN: {
        if (s->vlan_proto == 0 || s->vlan_proto == ETH_P_8021Q) {
            // What every kernel since 2.6.34 takes; it implies 802.1Q.
            struct ifla_vf_vlan vlan;
            memset(&vlan, 0, sizeof(vlan));
            vlan.vf = s->vf;
            vlan.vlan = s->vlan;
            vlan.qos = s->qos;
            return nla_put(msg, IFLA_VF_VLAN, sizeof(vlan), &vlan);
        }
        struct nlattr *list = nla_nest_start(msg, IFLA_VF_VLAN_LIST);
        if (!list) return -NLE_MSGSIZE;
        struct ifla_vf_vlan_info info;
        memset(&info, 0, sizeof(info));
        info.vf = s->vf;
        info.vlan = s->vlan;
        info.qos = s->qos;
        info.vlan_proto = htons(s->vlan_proto); // __be16, unlike libnl 3.7's own filler
        int r = nla_put(msg, IFLA_VF_VLAN_INFO, sizeof(info), &info);
        nla_nest_end(msg, list);
        return r;
    }
    case VFIOCTL_VF_SPOOFCHK: {
        struct ifla_vf_spoofchk v = { .vf = s->vf, .setting = s->value };
        return nla_put(msg, IFLA_VF_SPOOFCHK, sizeof(v), &v);
    }
    case VFIOCTL_VF_TRUST: {
        struct ifla_vf_trust v = { .vf = s->vf, .setting = s->value };
        return nla_put(msg, IFLA_VF_TRUST, sizeof(v), &v);
    }
    case VFIOCTL_VF_LINK_STATE: {
        struct ifla_vf_link_state v = { .vf = s->vf, .link_state = s->value };
        return nla_put(msg, IFLA_VF_LINK_STATE, sizeof(v), &v);
    }
    case VFIOCTL_VF_RATE: {
        struct ifla_vf_rate v = { .vf = s->vf, .min_tx_rate = s->min_tx_rate, .max_tx_rate = s->max_tx_rate };
        return nla_put(msg, IFLA_VF_RATE, sizeof(v), &v);
    }
    default:
        return -NLE_INVAL;
    }
}

static struct nl_msg *build_set(const char *name, const vfioctl_vf_setting *s, int *nle) {
    *nle = 0;
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
    if (!msg) {
        *nle = NLE_NOMEM;
        return NULL;
    }
    struct ifinfomsg ifi;
    memset(&ifi, 0, sizeof(ifi));
    ifi.ifi_family = AF_UNSPEC;
    // ifi_index 0 and IFLA_IFNAME: the kernel looks the link up by name (no rename happens).
    struct nlattr *list = NULL, *info = NULL;
    int r = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
    if (r >= 0) r = nla_put_string(msg, IFLA_IFNAME, name);
    if (r >= 0 && !(list = nla_nest_start(msg, IFLA_VFINFO_LIST))) r = -NLE_MSGSIZE;
    if (r >= 0 && !(info = nla_nest_start(msg, IFLA_VF_INFO))) r = -NLE_MSGSIZE;
    if (r >= 0) r = put_setting(msg, s);
    if (r < 0) {
        *nle = -r;
        nlmsg_free(msg);
        return NULL;
    }
    nla_nest_end(msg, info);
    nla_nest_end(msg, list);
    return msg;
}

static int copy_message(struct nl_msg *msg, uint8_t *buf, int size) {
    struct nlmsghdr *hdr = nlmsg_hdr(msg);
    int length = (int)hdr->nlmsg_len;
    if (buf && size > 0) memcpy(buf, hdr, (size_t)(length < size ? length : size));
    nlmsg_free(msg);
    return length;
}

int vfioctl_nl_encode_set(const char *name, const vfioctl_vf_setting *setting, uint8_t *buf, int size) {
    int nle;
    struct nl_msg *msg = build_set(name, setting, &nle);
    return msg ? copy_message(msg, buf, size) : -1;
}

int vfioctl_nl_encode_get(const char *name, int ifindex, uint8_t *buf, int size) {
    struct nl_msg *msg = build_get(name, ifindex);
    return msg ? copy_message(msg, buf, size) : -1;
}

int vfioctl_nl_set_vf(vfioctl_nl *nl, const char *name, const vfioctl_vf_setting *setting, vfioctl_nl_error *err) {
    clear_error(err);
    int nle;
    struct nl_msg *msg = build_set(name, setting, &nle);
    if (!msg) {
        set_nle(err, nle, nle == NLE_INVAL ? EINVAL : 0);
        return -1;
    }
    struct reply reply;
    memset(&reply, 0, sizeof(reply));
    int r = roundtrip(nl, msg, &reply, err);
    nlmsg_free(msg);
    if (reply.link) rtnl_link_put(reply.link);
    return r;
}

// MARK: reading VFs

static void fill_vf(vfioctl_vf_info *out, struct rtnl_link_vf *vf, uint32_t index) {
    memset(out, 0, sizeof(*out));
    out->index = index;
    uint32_t value;
    if (rtnl_link_vf_get_index(vf, &value) == 0) out->index = value;

    struct nl_addr *addr = NULL;
    if (rtnl_link_vf_get_addr(vf, &addr) == 0 && addr && nl_addr_get_len(addr) >= 6) {
        out->has_mac = 1;
        memcpy(out->mac, nl_addr_get_binary_addr(addr), 6);
    }

    nl_vf_vlans_t *vlans = NULL;
    out->vlan_proto = ETH_P_8021Q;
    if (rtnl_link_vf_get_vlans(vf, &vlans) == 0 && vlans) {
        if (vlans->size > 0) {
            out->has_vlan = 1;
            out->vlan = vlans->vlans[0].vf_vlan;
            out->qos = vlans->vlans[0].vf_vlan_qos;
            out->vlan_proto = vlans->vlans[0].vf_vlan_proto ? vlans->vlans[0].vf_vlan_proto : ETH_P_8021Q;
        }
        rtnl_link_vf_vlan_put(vlans);
    }

    out->spoofchk = rtnl_link_vf_get_spoofchk(vf, &value) == 0 ? (int32_t)(value ? 1 : 0) : -1;
    out->trust = rtnl_link_vf_get_trust(vf, &value) == 0 ? (int32_t)(value ? 1 : 0) : -1;
    out->link_state = rtnl_link_vf_get_linkstate(vf, &value) == 0 ? (int32_t)value : -1;

    struct nl_vf_rate rate;
    memset(&rate, 0, sizeof(rate));
    if (rtnl_link_vf_get_rate(vf, &rate) == 0) {
        if (rate.api == RTNL_LINK_VF_RATE_API_NEW) {
            out->min_tx_rate = rate.min_tx_rate;
            out->max_tx_rate = rate.max_tx_rate;
        } else if (rate.api == RTNL_LINK_VF_RATE_API_OLD) {
            out->max_tx_rate = rate.rate;
        }
    }
}

int vfioctl_nl_get_vfs(vfioctl_nl *nl, const char *name, int ifindex, vfioctl_nl_link *result,
                       vfioctl_vf_info *out, int capacity, int *count, vfioctl_nl_error *err) {
    clear_error(err);
    memset(result, 0, sizeof(*result));
    result->num_vfs = -1;
    *count = 0;
    struct nl_msg *msg = build_get(name, ifindex);
    if (!msg) {
        set_nle(err, NLE_NOMEM, ENOMEM);
        return -1;
    }
    struct reply reply;
    memset(&reply, 0, sizeof(reply));
    int r = roundtrip(nl, msg, &reply, err);
    nlmsg_free(msg);
    if (r < 0) {
        if (reply.link) rtnl_link_put(reply.link);
        return -1;
    }
    if (!reply.link) {
        set_nle(err, NLE_OBJ_NOTFOUND, 0);
        if (err) snprintf(err->message, sizeof(err->message), "the kernel acknowledged RTM_GETLINK without a link in its reply");
        return -1;
    }
    struct rtnl_link *link = reply.link;
    result->ifindex = rtnl_link_get_ifindex(link);
    const char *link_name = rtnl_link_get_name(link);
    if (link_name) snprintf(result->name, sizeof(result->name), "%s", link_name);
    result->flags = rtnl_link_get_flags(link);
    struct nl_addr *addr = rtnl_link_get_addr(link);
    if (addr && nl_addr_get_len(addr) == 6) {
        memcpy(result->addr, nl_addr_get_binary_addr(addr), 6);
        result->has_addr = 1;
    }
    if (reply.has_perm_addr) {
        memcpy(result->perm_addr, reply.perm_addr, 6);
        result->has_perm_addr = 1;
    }
    uint32_t n = 0;
    if (rtnl_link_get_num_vf(link, &n) == 0) {
        result->num_vfs = (int)n;
        // A driver without ndo_get_vf_config reports IFLA_NUM_VF but no list.
        if (n > 0 && rtnl_link_has_vf_list(link)) {
            int found = 0;
            for (uint32_t i = 0; i < n; i++) {
                struct rtnl_link_vf *vf = rtnl_link_vf_get(link, i);
                if (!vf) continue;
                if (found < capacity && out) fill_vf(&out[found], vf, i);
                found++;
                rtnl_link_vf_put(vf);
            }
            *count = found;
        }
    }
    rtnl_link_put(link);
    return 0;
}
