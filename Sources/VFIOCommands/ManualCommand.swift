import ArgumentParser
import VFIOCore

extension Vfioctl {
    /// Hidden: the manual pages, rendered from these command definitions (what
    /// `--experimental-dump-help` prints) and ManualContent. scripts/package installs them.
    struct Manual: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "manual",
            abstract: "Print a manual page (man(7) roff) made from vfioctl's command definitions, for packaging.",
            discussion: "Without PAGE, the names of the pages, one per line: vfioctl and vfioctl-COMMAND, all in section 8.",
            shouldDisplay: false)

        @Argument(help: ArgumentHelp("The page: vfioctl or vfioctl-COMMAND.", valueName: "PAGE"))
        var page: String?

        @Option(name: .long, help: ArgumentHelp("The date the page carries (YYYY-MM-DD): the source's, for a reproducible package.",
                                                valueName: "DATE"))
        var date: String?

        func run() throws {
            let pages = try Self.pages(date: date ?? "")
            guard let page else {
                Output.write(pages.map { $0.name + "\n" }.joined())
                return
            }
            guard let date, Self.isDate(date) else {
                throw VFIOError.usage("--date '\((date ?? "").printable)' is not a date YYYY-MM-DD", hint: "e.g. --date 2025-01-31 (scripts/package gives the last commit's)")
            }
            guard let found = pages.first(where: { $0.name == page || $0.fileName == page }) else {
                throw VFIOError.usage("no manual page '\(page.printable)'", hint: "pages are " + pages.map(\.name).joined(separator: ", "))
            }
            Output.write(found.roff())
        }

        /// Every page, from the definitions as the parser dumps them.
        static func pages(date: String) throws(VFIOError) -> [ManualPage] {
            let tool = try CommandHelp.parse(dump: Vfioctl._dumpHelp())
            return ManualBuilder.pages(tool, content: ManualContent.pages, version: Vfioctl.configuration.version, date: date)
        }

        static func isDate(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
            return bytes.enumerated().allSatisfy { index, byte in index == 4 || index == 7 || (byte >= 0x30 && byte <= 0x39) }
        }
    }
}
