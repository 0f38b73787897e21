/// Configuration files as Debian ships them, for tests that edit them.
public enum DebianFiles {
    /// /etc/initramfs-tools/modules (initramfs-tools 0.142).
    public static let initramfsToolsModules = """
        # List of modules that you want to include in your initramfs.
        # They will be loaded at boot time in the order below.
        #
        # Syntax:  module_name [args ...]
        #
        # You must run update-initramfs(8) to effect this change.
        #
        # Examples:
        #
        # raid1
        # sd_mod

        """
}
