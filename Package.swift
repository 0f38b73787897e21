// swift-tools-version: 6.0
//
// vfioctl — PCI passthrough management for Linux KVM hosts.
//
// Layers (Observe → Plan → Act, see docs/architecture.md):
//   VFIOCore         pure: models, parsing, checks, planning, rendering (no file or process I/O)
//   VFIODeviceLayer  reads the host under one injectable root (sysfs, /proc, libpci, libkmod, rtnetlink); never decides
//   VFIOActuator     does what a plan says: journal first, then sysfs writes, modprobe, VF attributes; verifies, rolls back
//   VFIOCommands     the command line (swift-argument-parser); parses, calls the layers, renders
//   vfioctl          one-file executable
import PackageDescription

let package = Package(
    name: "vfioctl",
    products: [
        .executable(name: "vfioctl", targets: ["vfioctl"]),
        .library(name: "VFIOKit", targets: ["VFIOCore", "VFIODeviceLayer", "VFIOActuator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The pool file of `vfioctl apply` (TOML or YAML); only the command line reads it.
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries. libpci needs a shim: pci_lookup_name is variadic and the default error hook calls exit(1).
        .systemLibrary(name: "CLibPCI", pkgConfig: "libpci", providers: [.apt(["libpci-dev"])]),
        .target(name: "CPCIShim", dependencies: ["CLibPCI"]),
        // rtnetlink through libnl-route-3: SR-IOV VF attributes (read with RTEXT_FILTER_VF, set one
        // attribute per RTM_SETLINK), errno and extended ack kept; one socket for many requests.
        .systemLibrary(name: "CLibNL", pkgConfig: "libnl-route-3.0", providers: [.apt(["libnl-route-3-dev"])]),
        .target(name: "CNetlinkShim", dependencies: ["CLibNL"]),
        // libkmod: the kernel modules whose aliases match a device, from the root's
        // lib/modules/RELEASE/modules.alias.bin, as `lspci -k` finds them. Called directly: no shim.
        .systemLibrary(name: "CLibKmod", pkgConfig: "libkmod", providers: [.apt(["libkmod-dev"])]),
        // zlib: /proc/config.gz (the running kernel's build configuration where /boot has none).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Linux/glibc definitions Swift's Glibc module lacks (O_PATH, mallopt).
        .target(name: "CSysShim"),

        .target(name: "VFIOCore"),
        .target(name: "VFIODeviceLayer", dependencies: ["VFIOCore", "CPCIShim", "CSysShim", "CNetlinkShim", "CLibKmod", "CZlib"]),
        // Act: does what a plan says, journaling each step first (sysfs writes, modprobe, VF
        // attributes over rtnetlink).
        .target(name: "VFIOActuator", dependencies: ["VFIOCore", "VFIODeviceLayer", "CNetlinkShim"]),
        .target(name: "VFIOCommands", dependencies: [
            "VFIOCore", "VFIODeviceLayer", "VFIOActuator",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "vfioctl", dependencies: ["VFIOCommands", "CSysShim"]),

        // Builds fake sysfs trees in the kernel's real layout for the tests, and (through
        // vfioctl-faketree) the synthetic hosts of scripts/bench.
        .target(name: "VFIOTestSupport", dependencies: ["VFIOCore", "VFIOActuator"]),
        .executableTarget(name: "vfioctl-faketree", dependencies: ["VFIOCore", "VFIOTestSupport"]),

        .testTarget(name: "VFIOCoreTests", dependencies: ["VFIOCore", "VFIOTestSupport"]),
        // Fixtures live in fixtures/, outside every target: real sysfs snapshots hold symlink
        // cycles (iommu_group <-> devices) that SwiftPM would follow when it walks a target.
        .testTarget(name: "VFIODeviceLayerTests", dependencies: ["VFIODeviceLayer", "VFIOTestSupport"]),
        .testTarget(name: "VFIOCommandsTests", dependencies: [
            "VFIOCommands", "VFIOTestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "VFIOActuatorTests", dependencies: ["VFIOActuator", "VFIOTestSupport"]),
        // The hostile-input campaign: the built vfioctl on damaged trees, documents, config files,
        // journals and arguments (docs/hostile-input.md).
        .testTarget(name: "VFIOHostileTests", dependencies: ["VFIOTestSupport"]),
        // Runs inside the real-kernel lab's guests (scripts/lab test); skipped on a host.
        .testTarget(name: "VFIOLabTests", dependencies: ["VFIOCore", "VFIODeviceLayer", "VFIOActuator", "VFIOTestSupport"]),
        // The Debian package (scripts/package) from the release build: lintian, a fresh root, remove
        // and purge (docs/packaging.md). Skipped without a release build, except in CI.
        .testTarget(name: "VFIOPackageTests", dependencies: ["VFIOTestSupport"]),
    ]
)
