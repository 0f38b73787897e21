import CSysShim
import Glibc
import VFIOCommands

vfioctl_tune_malloc()
// Swift reads the arguments from /proc/self/cmdline: without /proc (a chroot that has not
// mounted it) there are none, not even the program's name, and vfioctl would run as if
// given nothing. Say so instead.
guard CommandLine.argc > 0 else {
    let message = "error: vfioctl cannot read its command line (/proc/self/cmdline): /proc is not mounted\n"
        + "hint: mount -t proc proc /proc\n"
    _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    exit(1)
}
exit(Vfioctl.run(Array(CommandLine.arguments.dropFirst())))
