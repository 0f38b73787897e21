/// `vfioctl config status`: each setting as the running kernel has it and as the files configure
/// it, and what it takes for the two to meet. Pure.
public enum ConfigStatus {
    public struct Row: Sendable, Equatable {
        public var setting: String
        public var running: String?
        public var configured: String?
        /// "ok", "reboot" (configured, not running yet), "unsaved" (running, not configured), "missing",
        /// "rebuild" (the initramfs is older than a file that goes into it).
        public var state: String
        public var hint: String?
        /// What the setting is for (vfio-pci's own options), nil for the others.
        public var about: String?

        public init(setting: String, running: String?, configured: String?, state: String, hint: String?, about: String? = nil) {
            (self.setting, self.running, self.configured, self.state, self.hint, self.about) = (setting, running, configured, state, hint, about)
        }
    }

    public static func rows(options: [String], running: [String], configured: [String], facts: HostFacts,
                            modprobe: [String: String]) -> [Row] {
        var rows: [Row] = []
        func key(_ word: String) -> Substring { KernelCommandLine.key(word) }
        for option in options {
            let now = running.last { key($0) == key(option) }
            let file = configured.last { key($0) == key(option) }
            let state: String
            var hint: String?
            switch (now == option, file == option) {
            case (true, true): state = "ok"
            case (false, true): state = "reboot"; hint = "configured: regenerate the boot configuration if not done, then reboot"
            case (true, false): state = "unsaved"; hint = "on now but not in the boot configuration: vfioctl config cmdline --write"
            case (false, false): state = "missing"; hint = "vfioctl config cmdline --write, then reboot"
            }
            rows.append(Row(setting: "cmdline " + String(key(option)), running: now, configured: file, state: state, hint: hint))
        }
        // Module options vfioctl writes, against /sys/module/M/parameters.
        var wanted: [(module: String, name: String, value: String)] = []
        for text in modprobe.values.sorted() {
            for line in text.split(separator: "\n") where line.hasPrefix("options ") {
                let words = line.split(separator: " ")
                guard words.count >= 3 else { continue }
                let module = words[1].replacingDashes()
                for assignment in words.dropFirst(2) {
                    let parts = assignment.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    wanted.append((module, String(parts[0]), String(parts[1])))
                }
            }
        }
        for (module, name, value) in wanted {
            let setting = "\(module).\(name)"
            let now = facts.parameter(module, name)
            if module == "vfio_pci" && name == "ids" {
                rows.append(Row(setting: setting, running: nil, configured: value, state: facts.modules.isLoaded("vfio_pci") ? "ok" : "reboot",
                                hint: "vfio-pci keeps ids= out of sysfs: 'vfioctl list' shows which driver each device has"))
                continue
            }
            let option = module == "vfio_pci" ? ModprobeConfig.vfioPCIOption(named: name) : nil
            guard let now else {
                rows.append(Row(setting: setting, running: nil, configured: value, state: "reboot",
                                hint: "\(module) is not loaded: the option applies when it loads", about: option?.about))
                continue
            }
            let same = SysfsValues.flag(now).map { flag in SysfsValues.flag(value) == flag } ?? (now == value)
            var hint = "reload \(module) with no guest running (modprobe -r \(module); modprobe \(module)) or reboot"
            if let option, option.writableAtRuntime {
                hint = "echo \(value) > /sys/module/\(module)/parameters/\(name) applies it now, or " + hint
            }
            rows.append(Row(setting: setting, running: now, configured: value, state: same ? "ok" : "reboot",
                            hint: same ? nil : hint, about: option?.about))
        }
        // vfio-pci's options turned on while it runs (the writable ones) but in no file: lost at its next load.
        let configured = Set(wanted.filter { $0.module == "vfio_pci" }.map(\.name))
        for option in ModprobeConfig.vfioPCIOptions where !configured.contains(option.name) {
            guard let now = facts.parameter("vfio_pci", option.name), SysfsValues.flag(now) == true else { continue }
            rows.append(Row(setting: "vfio_pci.\(option.name)", running: now, configured: nil, state: "unsaved",
                            hint: "on now but in no modprobe.d file: vfioctl config modprobe \(option.flag) --write keeps it",
                            about: option.about))
        }
        return rows
    }

    /// The initramfs: does its generator load vfio early, and is the image newer than every file
    /// that goes into it (modprobe.d, the generator's module list)?
    public static func initramfsRow(_ boot: BootFacts) -> Row? {
        let edit = InitramfsConfig.plan(boot)
        guard let path = edit.path else { return nil }
        let configured = edit.changed ? nil : InitramfsConfig.modules(boot).joined(separator: " ")
        guard let image = boot.initramfsImage, let built = boot.initramfsBuilt else {
            return Row(setting: "initramfs", running: nil, configured: configured, state: configured == nil ? "missing" : "reboot",
                       hint: "no initramfs image for the running kernel found in /boot")
        }
        let newer = boot.initramfsInputs.filter { $0.value > built }.keys.sorted()
        if !newer.isEmpty {
            return Row(setting: "initramfs", running: image, configured: configured, state: "rebuild",
                       hint: newer.joined(separator: ", ") + " changed after \(image) was built: " + (edit.regenerate ?? "rebuild it") + ", then reboot")
        }
        return Row(setting: "initramfs", running: image, configured: configured, state: configured == nil ? "missing" : "ok",
                   hint: configured == nil ? "\(path) does not load vfio early: vfioctl config initramfs --write" : nil)
    }

    public static func json(_ rows: [Row]) -> JSON {
        .document(["settings": .array(rows.map { row in
            .object(["about": .optional(row.about), "configured": .optional(row.configured), "hint": .optional(row.hint),
                     "running": .optional(row.running), "setting": .string(row.setting), "state": .string(row.state)])
        })])
    }

    public static func text(_ rows: [Row]) -> String {
        let table = TextTable(header: ["SETTING", "RUNNING", "CONFIGURED", "STATE"],
                              rows: rows.map { [$0.setting, $0.running ?? "-", $0.configured ?? "-", $0.state] })
        return table.render() + rows.compactMap { row in row.hint.map { "\(row.setting): \($0)\n" } }.joined()
            + rows.compactMap { row in row.about.map { "\(row.setting) is for this: \($0)\n" } }.joined()
    }
}

extension Substring {
    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
