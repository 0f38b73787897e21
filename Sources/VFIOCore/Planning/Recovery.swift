/// What `vfioctl recover` does with the journal an interrupted run left, decided from the journal
/// alone (pure): the transaction then carries it out.
public struct Recovery: Sendable, Equatable {
    public enum Action: String, Sendable {
        /// No journal: nothing to recover.
        case none
        /// Every step was done: only the records are left to write.
        case committed
        /// The run rolled back, or died before its first step: the journal only needs closing.
        case closed
        /// Complete the run (--finish): every step again (each converges).
        case finished
        /// Put back every function, VF count, VF setting and link a begun step touched.
        case undone
    }

    public var action: Action
    /// The steps it takes, in order (what `recover --dry-run` shows).
    public var steps: [Step]

    public static func decide(_ journal: JournalState?, finish: Bool) -> Recovery {
        guard let journal else { return Recovery(action: .none, steps: []) }
        if journal.finished { return Recovery(action: .committed, steps: []) }
        if journal.rolledBack || journal.nothingBegan { return Recovery(action: .closed, steps: []) }
        if finish { return Recovery(action: .finished, steps: journal.steps) }
        return Recovery(action: .undone, steps: BindingPlanner.restoreOrder(journal.undo.bindings).flatMap { Recipe.restore($0, pciDrivers: nil) })
    }
}
