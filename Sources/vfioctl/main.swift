import CSysShim
import Glibc
import VFIOCommands

vfioctl_tune_malloc()
exit(Vfioctl.run(Array(CommandLine.arguments.dropFirst())))
