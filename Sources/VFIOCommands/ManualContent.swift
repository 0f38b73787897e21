import VFIOCore

/// What the manual pages say that the command definitions do not: environment, files, exit
/// statuses, examples and related pages, per page (`vfioctl`, `vfioctl-COMMAND`). The tests parse
/// every example with these definitions and check the exit statuses against VFIOError's.
enum ManualContent {
    typealias Content = ManualBuilder.Content
    typealias Entry = Content.Entry
    typealias Example = Content.Example

    static let stateDirectory = "/var/lib/vfioctl"

    // MARK: exit statuses (VFIOError.Kind: usage 64, failed 1, refused 2; ArgumentParser's
    // validation errors are reported as 64 too)

    static let ok = Entry("0", "Success.")
    static let failed = Entry("1", "The operation failed or the host could not be read: an error: line on standard error says what, and a hint: line how to fix it.")
    static let usage = Entry("64", "Usage error: an unknown command or option, a value that is not valid (an address, a group number), or a file named on the command line that cannot be used.")

    /// 0, 1 and 64: the commands that only read and print.
    static let reading = [ok, failed, usage]

    /// 0, 1, 2 and 64 for a command whose guards can refuse: `refused` says when.
    static func refusing(_ refused: String, ok: Entry = ok) -> [Entry] {
        [ok, failed, Entry("2", refused), usage]
    }

    static let guardRefused = "A guard refused the plan (a host-critical device, a group that cannot become viable, a device a guest holds, ...): the report says why, and nothing was changed."

    static let stateFiles = [
        Entry(stateDirectory + "/lock", "Held (flock) by the one vfioctl that may change bindings; it says who holds it."),
        Entry(stateDirectory + "/journal", "The write-ahead journal of a changing run; present only while a run is unfinished (see vfioctl-recover(8))."),
        Entry(stateDirectory + "/detached", "The driver and driver_override each detached function had, so reattach puts exactly them back."),
        Entry(stateDirectory + "/vf-originals", "SR-IOV VF settings as they were before vfioctl first changed them (sriov restore)."),
        Entry(stateDirectory + "/history", "One line per finished changing run."),
        Entry(stateDirectory + "/last-apply", "When the last apply ended, whether it succeeded and how many changes it made (vfioctl metrics reports it)."),
    ]

    static let persistFiles = [
        Entry(Persist.recordsPath, "The recorded sets: each function's address, position in the PCI hierarchy, IDs and serial number."),
        Entry(Persist.udevRulesPath, "Written by persist --write: sets driver_override on the recorded functions when they appear at boot."),
        Entry(Persist.unitPath, "Written by persist --write: runs vfioctl persist apply once per boot (enable it with systemctl enable vfioctl-persist.service)."),
    ]

    static let configFiles = [
        Entry("/etc/default/grub", "The kernel command line (GRUB_CMDLINE_LINUX) that config cmdline --write edits; or a drop-in in /etc/default/grub.d/\(BootConfig.dropInName) where that directory is in use, or /etc/kernel/cmdline with systemd-boot."),
        Entry("/etc/modprobe.d/vfio.conf", "vfio-pci ids=, softdeps and vfio-pci options (config modprobe --write)."),
        Entry("/etc/modprobe.d/kvm-nested.conf", "Nested virtualization for kvm_intel or kvm_amd (config modprobe --nested --write)."),
        Entry("/etc/initramfs-tools/modules", "The vfio modules for initramfs-tools; with dracut /etc/dracut.conf.d/\(InitramfsConfig.dracutDropIn), with mkinitcpio /etc/mkinitcpio.conf (config initramfs --write)."),
        Entry("FILE.vfioctl.bak", "The file as it was before vfioctl last replaced it."),
    ]

    static let poolFile = Entry(PoolSpec.defaultPath, "The pool file vfioctl-pools.service applies at boot (vfioctl-apply(8)).")
    static let mdevctlFiles = Entry("/etc/mdevctl.d/PARENT/UUID", "mdevctl's persistent mdev definitions, which mdev create --persist writes and mdev remove --persist removes.")
    static let units = Entry("/usr/lib/systemd/system/vfioctl-pools.service, vfioctl-persist.service", "The boot units the package installs, not enabled: systemctl enable vfioctl-pools.service applies \(PoolSpec.defaultPath) at boot.")
    static let hook = Entry("/usr/libexec/vfioctl/libvirt-hook", "The libvirt hook, installed but not enabled: ln -s /usr/libexec/vfioctl/libvirt-hook /etc/libvirt/hooks/qemu.d/vfioctl enables it (libvirt 6.5 or later; restart libvirtd or virtqemud).")

    static let pages: [String: Content] = [
        "vfioctl": Content(
            environment: [
                Entry("VFIOCTL_ROOT", "Read (and change) the host under this directory instead of /, as --root does; --root wins."),
                Entry("VFIOCTL_STATE_DIR", "The state directory of changing commands, as --state-dir does (default \(stateDirectory) under the root)."),
                Entry("VFIOCTL_PCI_IDS", "The pci.ids file that names vendors and devices (default: libpci's)."),
            ],
            files: stateFiles + [Entry("/etc/vfioctl", "The administrator's configuration: persist.conf (vfioctl-persist(8)) and the pool file pools.toml (vfioctl-apply(8)).")]
                + persistFiles.dropFirst() + configFiles + [mdevctlFiles, units, hook],
            exitStatus: [ok, failed,
                         Entry("2", "A check found a blocking problem (check, cpu compare: the report says why, with no error: line) or a guard refused a change (nothing was changed)."),
                         usage],
            examples: [
                Example("Every IOMMU group and its functions:", "vfioctl groups"),
                Example("Whether a GPU and its group can be given to a guest, before it starts:", "vfioctl check 0000:01:00.0"),
                Example("Hand its whole group to vfio-pci, then give it back:", "vfioctl detach 0000:01:00.0"),
                Example("", "vfioctl reattach 0000:01:00.0"),
                Example("The <hostdev> elements to paste into virsh edit:", "vfioctl xml hostdev --group 14"),
            ],
            seeAlso: ["virsh(1)", "lspci(8)", "mdevctl(8)", "systemctl(1)", "udev(7)", "modprobe.d(5)"]),

        "vfioctl-list": Content(
            exitStatus: [Entry("0", "Success, also when no function matches the filters (JSON: an empty functions list)."), failed, usage],
            examples: [
                Example("Network functions with no driver bound:", "vfioctl list --class network --driver none"),
                Example("Intel 82540EM NICs, as JSON:", "vfioctl list --vendor 8086:100e --format json"),
                Example("The functions of IOMMU group 17:", "vfioctl list --group 17"),
            ],
            seeAlso: ["lspci(8)"]),

        "vfioctl-groups": Content(
            exitStatus: [Entry("0", "Success, also when there are no IOMMU groups (it then says how to turn the IOMMU on)."), failed, usage],
            examples: [
                Example("Every group with its members:", "vfioctl groups"),
                Example("The same for a snapshot of another host:", "vfioctl groups --root ./host-snapshot"),
            ]),

        "vfioctl-show": Content(
            exitStatus: reading,
            examples: [
                Example("One function in detail:", "vfioctl show 0000:01:00.0"),
                Example("The same as JSON:", "vfioctl show 01:00.0 --format json"),
            ],
            seeAlso: ["lspci(8)"]),

        "vfioctl-check": Content(
            files: [Entry("/etc/libvirt/hooks/qemu.d/vfioctl", "The libvirt hook, when enabled: a link to /usr/libexec/vfioctl/libvirt-hook, which runs vfioctl check --libvirt-hook before a guest starts.")],
            exitStatus: [Entry("0", "No finding is an error (verdict pass)."), failed,
                         Entry("2", "A finding is an error (verdict fail); the report says why. With --libvirt-hook also when the domain XML cannot be read."),
                         usage],
            examples: [
                Example("The host's readiness alone:", "vfioctl check"),
                Example("A function and its group:", "vfioctl check 0000:03:00.0"),
                Example("Every device a guest definition assigns:", "vfioctl check --domain guest.xml"),
                Example("Nested virtualization too:", "vfioctl check --nested"),
            ],
            seeAlso: ["virsh(1)"]),

        "vfioctl-detach": Content(
            files: stateFiles,
            exitStatus: refusing(guardRefused),
            examples: [
                Example("The plan only:", "vfioctl detach 0000:03:00.0 --dry-run"),
                Example("Every endpoint of group 14 to vfio-pci:", "vfioctl detach --group 14"),
            ],
            seeAlso: ["vfioctl-reattach(8)", "vfioctl-recover(8)"]),

        "vfioctl-reattach": Content(
            files: stateFiles,
            exitStatus: refusing("Refused: a guest holds the group open (unbinding vfio-pci would block until it stops); nothing was changed."),
            examples: [
                Example("Give a function's group back to its drivers:", "vfioctl reattach 0000:03:00.0"),
                Example("Everything vfioctl detached:", "vfioctl reattach --all"),
            ],
            seeAlso: ["vfioctl-detach(8)"]),

        "vfioctl-recover": Content(
            files: stateFiles,
            exitStatus: reading,
            examples: [
                Example("What an interrupted run left, and the plan to undo it:", "vfioctl recover --dry-run"),
                Example("Complete it instead of undoing it:", "vfioctl recover --finish"),
            ],
            seeAlso: ["vfioctl-detach(8)"]),

        "vfioctl-persist": Content(
            files: persistFiles + stateFiles.prefix(3),
            exitStatus: [ok,
                         Entry("1", "The operation failed; or persist apply left a set that no longer matches the host alone (an error: line names it and why)."),
                         Entry("2", "persist (add) refused what detach would refuse (a host-critical device, a group that cannot become viable, a PF with VFs), or persist apply's guard refused: nothing was written."),
                         usage],
            examples: [
                Example("Record a GPU's group for vfio-pci at boot, showing the files as diffs:", "vfioctl persist 0000:01:00.0"),
                Example("Write them:", "vfioctl persist --group 14 --write"),
                Example("", "systemctl enable vfioctl-persist.service"),
                Example("What each recorded set is now:", "vfioctl persist status"),
                Example("Forget every set:", "vfioctl persist remove --all --write"),
            ],
            seeAlso: ["vfioctl-detach(8)", "udev(7)", "systemctl(1)"]),

        "vfioctl-sriov": Content(
            files: stateFiles,
            exitStatus: refusing("A guard refused (a VF in use: its group open by a guest or its interface up; the PF down for sriov set): nothing was changed."),
            examples: [
                Example("Every PF and its VFs:", "vfioctl sriov status"),
                Example("Four VFs on vfio-pci:", "vfioctl sriov create enp5s0f0 --count 4"),
                Example("A VF's MAC and VLAN:", "vfioctl sriov set enp5s0f0 --vf 0 --mac auto --vlan 100"),
                Example("Its settings as they were:", "vfioctl sriov restore enp5s0f0 --vf 0"),
            ],
            seeAlso: ["vfioctl-apply(8)", "ip-link(8)"]),

        "vfioctl-mdev": Content(
            files: [mdevctlFiles] + stateFiles.prefix(3),
            exitStatus: refusing("create or remove refused (no instance of the type left, the UUID taken, the mdev's group open by a guest): nothing was changed."),
            examples: [
                Example("Parents and their types:", "vfioctl mdev types"),
                Example("An mdev of type mtty-2 on the mtty parent, defined for mdevctl too:", "vfioctl mdev create mtty --type mtty-2 --persist"),
                Example("Its <hostdev> for a guest:", "vfioctl xml hostdev --mdev 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"),
            ],
            seeAlso: ["mdevctl(8)"]),

        "vfioctl-apply": Content(
            files: [poolFile, units] + stateFiles,
            exitStatus: refusing(guardRefused),
            examples: [
                Example("What the pool file would change:", "vfioctl apply /etc/vfioctl/pools.toml --dry-run"),
                Example("Apply it at every boot:", "systemctl enable vfioctl-pools.service"),
            ],
            seeAlso: ["vfioctl-sriov(8)", "systemctl(1)"]),

        "vfioctl-xml": Content(
            exitStatus: refusing("qemu-args --iommufd on a host whose kernel cannot give QEMU the iommufd backend (the reason check gives)."),
            examples: [
                Example("A <hostdev> for every endpoint of a function's group:", "vfioctl xml hostdev 0000:01:00.0"),
                Example("A VF as a guest's network interface:", "vfioctl xml interface 0000:05:10.0 --mac 52:54:00:12:34:56 --vlan 100"),
                Example("A hostdev network of a PF's VFs, for virsh net-define:", "vfioctl xml network pool-a --pf enp5s0f0"),
                Example("QEMU's -device arguments for a group:", "vfioctl xml qemu-args --group 14"),
            ],
            seeAlso: ["virsh(1)", "qemu-system-x86_64(1)"]),

        "vfioctl-export": Content(
            files: [poolFile],
            exitStatus: refusing("A function the host needs (the host-critical guard), a function in no IOMMU group, or one the engine cannot take (nova: a PCI domain above 0xFFFF); or, with --check, the file has drifted from the host: the findings say how, with the fix."),
            examples: [
                Example("nova's [pci] device_spec and alias for every function on vfio-pci:", "vfioctl export nova"),
                Example("neutron's SR-IOV agent mappings for a pool file's VFs:", "vfioctl export neutron --pool /etc/vfioctl/pools.toml --physnet physnet1"),
                Example("KubeVirt's permittedHostDevices for a GPU's group, a merge patch for kubectl patch kubevirt kubevirt -n kubevirt --type merge --patch-file FILE:",
                        "vfioctl export kubevirt --group 14 --name nvidia.com/TU104GL_Tesla_T4"),
                Example("The SR-IOV device plugin's resourceList for the VFs on vfio-pci:", "vfioctl export sriov-device-plugin --name sriov_vfio"),
                Example("Proxmox VE's PCI mapping of a GPU's group on node pve1, for /etc/pve/mapping/pci.cfg:", "vfioctl export proxmox --group 14 --node pve1 --name gpu"),
                Example("Whether nova's configuration still fits this host (exit 2 on drift, each with its fix):", "vfioctl export nova --check /etc/nova/nova.conf"),
            ],
            seeAlso: ["vfioctl-detach(8)", "vfioctl-apply(8)"]),

        "vfioctl-config": Content(
            files: configFiles,
            exitStatus: reading,
            examples: [
                Example("The kernel command line passthrough needs, as a diff:", "vfioctl config cmdline"),
                Example("vfio-pci claims a GPU's IDs at boot:", "vfioctl config modprobe --vfio-ids 10de:1b80,10de:10f0 --write"),
                Example("What the running kernel has against the files:", "vfioctl config status"),
            ],
            seeAlso: ["modprobe.d(5)", "update-initramfs(8)", "update-grub(8)"]),

        "vfioctl-cpu": Content(
            files: [Entry("/usr/share/libvirt/cpu_map", "libvirt's CPU map (package libvirt0), which every cpu command reads.")],
            exitStatus: [ok, failed, Entry("2", "cpu compare: this host cannot run the CPU (incompatible); the report says why."), usage],
            examples: [
                Example("This host's CPU as libvirt describes it:", "vfioctl cpu host"),
                Example("Whether this host can run another's CPU:", "vfioctl cpu compare other-host.xml"),
                Example("The CPU two hosts can both run:", "vfioctl cpu baseline host-a.xml host-b.xml"),
            ],
            seeAlso: ["virsh(1)"]),

        "vfioctl-metrics": Content(
            files: [
                Entry("/var/lib/prometheus/node-exporter/vfioctl.prom", "Where vfioctl-metrics.service writes the metrics for node_exporter's textfile collector (Debian's prometheus-node-exporter reads that directory)."),
                Entry("/usr/lib/systemd/system/vfioctl-metrics.service, vfioctl-metrics.timer", "The unit and its timer (every minute), installed but not enabled: systemctl enable --now vfioctl-metrics.timer."),
                Entry(stateDirectory + "/last-apply", "The last apply's end, success and changes."),
            ],
            exitStatus: reading,
            examples: [
                Example("The metrics on standard output:", "vfioctl metrics"),
                Example("Replace the collector's file atomically:", "vfioctl metrics --output /var/lib/prometheus/node-exporter/vfioctl.prom"),
            ],
            seeAlso: ["prometheus-node-exporter(1)", "promtool(1)"]),

        "vfioctl-snapshot": Content(
            exitStatus: reading,
            examples: [
                Example("Copy what vfioctl reads, for a bug report:", "vfioctl snapshot /tmp/host-snapshot"),
                Example("Read it back as the host:", "vfioctl groups --root /tmp/host-snapshot"),
            ]),
    ]
}
