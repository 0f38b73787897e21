import Glibc
import VFIOCommands

exit(Vfioctl.run(Array(CommandLine.arguments.dropFirst())))
