import ArgumentParser

/// `vfioctl --generate-completion-script bash|zsh|fish`: ArgumentParser's scripts, whose host
/// completions call the binary back (`HostCompletion`). bash's gets one addition: PCI addresses
/// hold ':', at which bash splits the line into words (':' is in COMP_WORDBREAKS), so
/// `vfioctl show 0000:01:0` would reach the script as `show`, `0000`, `:`, `01`, `:`, `0`, three
/// positionals too many; and readline, which replaces only what follows the last ':', would get
/// whole addresses back, escaped as `0000\:01\:00.0` by `-o filenames`. The wrapper joins the
/// pieces into one word before ArgumentParser's function counts them and gives readline what
/// follows the word's last ':' (bash-completion's `__ltrim_colon_completions`).
enum CompletionScript {
    /// The script a command line asks for when it is only that request and the shell is bash;
    /// nil otherwise (ArgumentParser answers the other shells itself).
    static func requested(_ arguments: [String]) -> String? {
        let flag = "--generate-completion-script"
        let shell: CompletionShell?
        switch arguments.count {
        case 1 where arguments[0] == flag: shell = .autodetected()
        case 1 where arguments[0].hasPrefix(flag + "="): shell = CompletionShell(rawValue: String(arguments[0].dropFirst(flag.count + 1)))
        case 2 where arguments[0] == flag: shell = CompletionShell(rawValue: arguments[1])
        default: shell = nil
        }
        return shell == .bash ? bash : nil
    }

    /// ArgumentParser's bash script with the wrapper registered in place of its function.
    static var bash: String {
        let generated = Vfioctl.completionScript(for: .bash)
        let registration = "complete -o filenames -F _vfioctl vfioctl"
        guard let range = generated.range(of: registration) else { return generated }
        return generated.replacingCharacters(in: range, with: joiningColons)
    }

    static let joiningColons = #"""
        # vfioctl: PCI addresses hold ':', at which bash splits words (COMP_WORDBREAKS). Complete
        # with the pieces of a word joined again; readline replaces only what follows the word's
        # last ':', so that is what it gets (as bash-completion's __ltrim_colon_completions does).
        _vfioctl_joining_colons() {
            local -a joined=()
            local -i index cword=0
            for ((index = 0; index < ${#COMP_WORDS[@]}; index++)); do
                if ((index > 1)) && [[ "${COMP_WORDS[index]}" == : || "${COMP_WORDS[index - 1]}" == : ]]; then
                    joined[${#joined[@]} - 1]+="${COMP_WORDS[index]}"
                else
                    joined+=("${COMP_WORDS[index]}")
                fi
                ((index == COMP_CWORD)) && cword=$((${#joined[@]} - 1))
            done
            if ((${#joined[@]} == ${#COMP_WORDS[@]})); then
                _vfioctl "$@"
            else
                local -r word="${joined[cword]}"
                local -a COMP_WORDS=("${joined[@]}")
                local COMP_CWORD="${cword}"
                _vfioctl "${1}" "${word}" "${joined[cword - 1]}"
                local -r before_colon="${word%"${word##*:}"}"
                [[ -n "${before_colon}" ]] && COMPREPLY=("${COMPREPLY[@]#"${before_colon}"}")
            fi
            # An address keeps its ':' as it is (-o filenames would write 0000\:01\:00.0).
            [[ "${COMPREPLY[*]}" == *:* ]] && compopt +o filenames 2>/dev/null
            return 0
        }

        complete -o filenames -F _vfioctl_joining_colons vfioctl
        """#
}
