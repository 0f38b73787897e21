/// /proc/cmdline (or GRUB_CMDLINE_LINUX), as the kernel splits it: words separated by spaces,
/// double quotes grouping a value with spaces, `key=value` or bare `key`. Later occurrences of a
/// key override earlier ones, as for most kernel parameters.
public struct KernelCommandLine: Sendable, Equatable {
    public struct Parameter: Sendable, Equatable {
        public var key: String
        public var value: String?
    }

    public var parameters: [Parameter]

    public init(_ text: String) {
        var parameters: [Parameter] = []
        var word = ""
        var quoted = false
        var any = false
        func flush() {
            guard any else { return }
            if let equals = word.firstIndex(of: "=") {
                parameters.append(Parameter(key: String(word[..<equals]), value: String(word[word.index(after: equals)...])))
            } else {
                parameters.append(Parameter(key: word, value: nil))
            }
            word = ""
            any = false
        }
        for character in text {
            if character == "\"" {
                quoted.toggle()
                any = true
            } else if (character == " " || character == "\n" || character == "\t") && !quoted {
                flush()
            } else {
                word.append(character)
                any = true
            }
        }
        flush()
        // "--" ends the kernel's parameters; what follows goes to init.
        if let end = parameters.firstIndex(where: { $0.key == "--" && $0.value == nil }) {
            parameters = Array(parameters[..<end])
        }
        self.parameters = parameters
    }

    /// The last value given for `key` ("" for a bare key), or nil when absent. Module parameters
    /// match with '-' and '_' interchangeable, as the kernel treats them.
    public func value(_ key: String) -> String? {
        let wanted = KernelCommandLine.normalize(key)
        return parameters.last { KernelCommandLine.normalize($0.key) == wanted }.map { $0.value ?? "" }
    }

    public func contains(_ key: String) -> Bool { value(key) != nil }

    /// The comma-separated options of a parameter such as `intel_iommu=on,sm_on`.
    public func options(_ key: String) -> [String] {
        value(key)?.split(separator: ",").map(String.init) ?? []
    }

    /// The key of one word: "intel_iommu" for "intel_iommu=on", the word itself when bare.
    public static func key(_ word: some StringProtocol) -> Substring {
        Substring(word).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(word)
    }

    static func normalize(_ key: String) -> String { String(key.map { $0 == "-" ? "_" : $0 }) }
}
