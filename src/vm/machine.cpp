#include "vm/machine.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/strings.hpp"
#include "base/subprocess.hpp"
#include "vm/jail.hpp"

namespace veil::vm {

Accel probe_accel() {
  if (const char* forced = ::getenv("VEIL_VM_ACCEL"); forced && std::strcmp(forced, "tcg") == 0)
    return {"tcg", "VEIL_VM_ACCEL=tcg"};
  Fd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) return {"tcg", std::string("/dev/kvm: ") + std::strerror(errno)};
  if (::ioctl(kvm.get(), KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
    return {"tcg", "/dev/kvm: unexpected KVM API version"};
  // A /dev/kvm can exist and still refuse to make a VM (HOST.md): try.
  Fd vmfd(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (!vmfd) return {"tcg", std::string("KVM_CREATE_VM: ") + std::strerror(errno)};
  return {"kvm", ""};
}

Result<Assets> find_assets() {
  std::vector<std::string> dirs;
  if (const char* e = ::getenv("VEIL_VM_ASSETS"); e && *e) {
    dirs.push_back(e);
  } else {
    if (auto d = self_dir(); !d.empty()) dirs.push_back(d + "/vm");
    dirs.push_back("/usr/local/lib/veil/vm");
  }
  for (const auto& d : dirs) {
    Assets a{d, d + "/vmlinux", d + "/initrd.cpio"};
    if (path_exists(a.kernel) && path_exists(a.initrd)) return a;
  }
  return fail("microvm: no guest kernel and initramfs (vmlinux, initrd.cpio) in " +
              join(dirs, " or ") + "; build them with `make vm-assets` or set VEIL_VM_ASSETS");
}

namespace {
// The host's TSC rate in kHz (the guest skips calibrating it), from the kernel log's line
// "tsc: Detected N.NNN MHz processor" or /proc/cpuinfo's "cpu MHz".
std::string tsc_khz() {
  auto info = read_file("/proc/cpuinfo");
  if (info) {
    auto pos = info->find("cpu MHz");
    if (pos != std::string::npos) {
      auto colon = info->find(':', pos);
      double mhz = std::atof(info->c_str() + colon + 1);
      if (mhz > 100) return std::to_string(static_cast<long>(mhz * 1000));
    }
  }
  return "";
}
}  // namespace

std::string kernel_cmdline() {
  std::string cmd =
      "quiet panic=-1 cryptomgr.notests "
      "initcall_blacklist=init_kprobe_trace,cubictcp_register,crypto_kdf108_init,init_ima,"
      "load_system_certificate_list "
      "mitigations=off random.trust_cpu=on rcupdate.rcu_expedited=1 no_timer_check reboot=k "
      "pci=off rdinit=/init";
  if (auto k = tsc_khz(); !k.empty()) cmd += " tsc_early_khz=" + k;
  return cmd;
}

std::vector<std::string> qemu_argv(const MachineSpec& m) {
  std::vector<std::string> a{m.qemu};
  std::string machine = "microvm,isa-serial=off";
  if (!m.mem_path.empty() || !m.fs_fds.empty()) machine += ",memory-backend=mem";
  std::string tcg = "tcg,thread=single";
  if (const char* tb = ::getenv("VEIL_VM_TB_MIB"); tb && *tb) tcg += std::string(",tb-size=") + tb;
  a.insert(a.end(), {"-M", machine, "-accel", m.accel == "kvm" ? "kvm" : tcg});
  if (m.accel == "kvm") a.insert(a.end(), {"-cpu", "host"});
  if (!m.name.empty()) {
    std::string n;  // QEMU's option syntax doubles commas
    for (char c : m.name) n += c == ',' ? std::string(",,") : std::string(1, c);
    a.insert(a.end(), {"-name", n});
  }
  a.insert(a.end(), {"-m", std::to_string(m.mem_mib), "-smp", std::to_string(m.vcpus),
                     "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-global",
                     "migration.store-global-state=off"});
  if (!m.mem_path.empty())
    a.insert(a.end(),
             {"-object", strprintf("memory-backend-file,id=mem,size=%dM,mem-path=%s,share=%s",
                                   m.mem_mib, m.mem_path.c_str(), m.mem_shared ? "on" : "off")});
  else if (!m.fs_fds.empty())  // vhost-user maps guest RAM in virtiofsd: it must be shared
    a.insert(a.end(),
             {"-object", strprintf("memory-backend-memfd,id=mem,size=%dM,share=on", m.mem_mib)});
  // libvhost-user refuses legacy virtio devices, microvm's default (MICROVM.md §1).
  if (!m.fs_fds.empty()) a.insert(a.end(), {"-global", "virtio-mmio.force-legacy=false"});
  if (!m.clone)
    a.insert(a.end(),
             {"-kernel", m.assets.kernel, "-initrd", m.assets.initrd, "-append", kernel_cmdline()});
  a.insert(a.end(),
           {"-device", "virtio-serial-device", "-chardev", "socket,id=agent,fd=3", "-device",
            std::string("virtserialport,chardev=agent,name=") + "org.veil.agent", "-drive",
            "if=none,id=d0,format=raw,readonly=on,file=" + m.disk, "-device",
            "virtio-blk-device,drive=d0", "-chardev", "socket,id=qmp,fd=4", "-mon",
            "chardev=qmp,mode=control"});
  // Slots: a raw node over a file node each, so the file can be swapped (boot.hpp attach_slot).
  for (int i = 1; i <= m.slots; ++i)
    a.insert(
        a.end(),
        {"-blockdev",
         strprintf("driver=file,node-name=slot%d-f0,read-only=on,filename=", i) + m.disk,
         "-blockdev", strprintf("driver=raw,node-name=slot%d,file=slot%d-f0,read-only=on", i, i),
         "-device", strprintf("virtio-blk-device,drive=slot%d,serial=veil-slot%d", i, i)});
  // Every machine has the NIC (a clone's devices must be the template's); without a tap it has no
  // peer and the guest leaves it down.
  if (m.tap_fd >= 0) {
    a.insert(a.end(), {"-netdev", "tap,id=n0,fd=5,vhost=off", "-device",
                       "virtio-net-device,netdev=n0" + (m.mac.empty() ? "" : ",mac=" + m.mac)});
  } else if (m.user_net) {
    // slirp: 10.0.2.15 for the guest, 10.0.2.2 is the host (its loopback), 10.0.2.3 DNS.
    a.insert(a.end(), {"-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"});
  } else {
    a.insert(a.end(), {"-device", "virtio-net-device"});
  }
  for (size_t i = 0; i < m.fs_fds.size(); ++i)
    a.insert(a.end(),
             {"-chardev", strprintf("socket,id=fs%zu,fd=%zu", i, 6 + i), "-device",
              strprintf("vhost-user-fs-device,chardev=fs%zu,tag=%s", i, m.fs_tags[i].c_str())});
  if (m.clone) a.insert(a.end(), {"-incoming", "defer"});
  if (m.sandbox)
    a.insert(a.end(), {"-sandbox",
                       "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                       "resourcecontrol=deny"});
  return a;
}

Result<pid_t> spawn_qemu(const MachineSpec& m, int agent_sock, int qmp_sock) {
  auto argv = qemu_argv(m);
  std::vector<char*> cargv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  Fd log(::open(m.log_path.empty() ? "/dev/null" : m.log_path.c_str(),
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!log) return fail_errno("open QEMU's log " + m.log_path);
  // The jail's root sits beside the machine's log, in the directory that dies with the machine
  // (the disk may be a shared, cached image).
  bool no_log = m.log_path.empty() || m.log_path == "/dev/null";
  const std::string& beside = no_log ? m.disk : m.log_path;
  Jail jail = VEIL_TRY(plan_jail(m, beside.substr(0, beside.rfind('/') + 1) + "vmm-root"));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return fail_errno("fork QEMU");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // No transparent huge pages: TCG's code buffer is madvised for them, and a sparsely used 2 MiB
    // page per region costs more than it saves (measured: -25 MiB RSS per idle clone).
    ::prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // fds 3 and 4 must not be clobbered while moving: go through high numbers first.
    int a = ::fcntl(agent_sock, F_DUPFD, 100), q = ::fcntl(qmp_sock, F_DUPFD, 100);
    int l = ::fcntl(log.get(), F_DUPFD, 100);
    int t = m.tap_fd >= 0 ? ::fcntl(m.tap_fd, F_DUPFD, 100) : -1;
    int fs[8];
    size_t nfs = std::min<size_t>(m.fs_fds.size(), 8);
    for (size_t i = 0; i < nfs; ++i) fs[i] = ::fcntl(m.fs_fds[i], F_DUPFD, 100);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(l, 1);
    ::dup2(l, 2);
    ::dup2(a, 3);
    ::dup2(q, 4);
    int keep = 5;
    if (t >= 0) ::dup2(t, keep++);
    if (nfs > 0) {
      if (t < 0) ::dup2(null, keep++);  // fd 5 is the tap's place
      for (size_t i = 0; i < nfs; ++i) ::dup2(fs[i], keep++);
    }
    ::syscall(SYS_close_range, keep, ~0U, 0);
    enter_jail(jail);
    // The VMM's own uid (the jail) cleared the parent-death signal (the kernel resets it on any
    // credential change): armed again, or QEMU would outlive a monitor or shim killed with
    // SIGKILL.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::execvp(cargv[0], cargv.data());
    const char msg[] = "veil: cannot execute qemu-system-x86_64\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  return pid;
}

std::string qemu_log_tail(const std::string& path) {
  auto t = read_file(path);
  if (!t || t->empty()) return "";
  std::string s = t->size() > 600 ? t->substr(t->size() - 600) : *t;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace veil::vm
