# Runs Formula/strom.rb's own Ruby without Homebrew: `install`, `post_install`, the `service`
# command (as `brew services` would start it) and `test do`, against an already built strom
# binary, in a temporary prefix. It stands in for `brew install`/`brew test` where Homebrew and
# launchd are not available (Linux CI); the macOS CI job runs the real thing.
#
# Only the parts of Homebrew's DSL the formula uses are modelled, with Homebrew's semantics
# (e.g. `system` raises on failure, `shell_output` checks the exit status). `cargo install` is
# the one step not run: it installs the binary given on the command line instead of building.
#
#   ruby tests/formula/brew_harness.rb FORMULA STROM_BINARY SOURCE_DIR
require "fileutils"
require "open3"
require "pathname"
require "socket"
require "tmpdir"
require "timeout"

FORMULA_PATH, STROM_BINARY, SOURCE_DIR = ARGV.first(3).map { |a| File.expand_path(a) }
raise "usage: brew_harness.rb FORMULA STROM_BINARY SOURCE_DIR" unless SOURCE_DIR
ROOT = Pathname(Dir.mktmpdir("strom-brew-harness"))

def free_port
  server = TCPServer.new("127.0.0.1", 0)
  server.addr[1]
ensure
  server&.close
end

# Homebrew's Utils helper the formula calls.
module Utils
  def self.safe_popen_read(*args)
    out, status = Open3.capture2(*args.map(&:to_s))
    raise "#{args.join(" ")} failed with #{status}" unless status.success?

    out
  end
end

# The Pathname extensions formulae use.
class Pathname
  def install_symlink(mapping)
    mkpath
    mapping.each { |target, name| File.symlink(target.to_s, (self/name).to_s) }
  end

  def install(*paths)
    mkpath
    paths.each { |p| FileUtils.cp_r(p.to_s, (self/File.basename(p.to_s)).to_s) }
  end
end

# What `service do` records; like Homebrew's Service it sees the formula's paths (opt_bin, etc, var).
class ServiceSpec
  attr_reader :command, :dir, :log, :error_log, :keep

  def initialize(formula) = @formula = formula
  def method_missing(name, ...) = @formula.respond_to?(name) ? @formula.public_send(name, ...) : super
  def respond_to_missing?(name, include_private = false) = @formula.respond_to?(name) || super

  def run(command) = @command = command.map(&:to_s)
  def keep_alive(value) = @keep = value
  def working_dir(dir) = @dir = dir.to_s
  def log_path(path) = @log = path.to_s
  def error_log_path(path) = @error_log = path.to_s
end

# The slice of Homebrew's Formula class the formula uses.
class Formula
  class << self
    attr_reader :service_block, :test_block, :dependencies, :stanzas

    %i[desc homepage url sha256 license].each do |name|
      define_method(name) { |value| (@stanzas ||= {})[name] = value }
    end

    def head(url, branch:) = (@stanzas ||= {})[:head] = [url, branch]
    def depends_on(spec) = (@dependencies ||= []) << spec
    def service(&block) = @service_block = block
    def test(&block) = @test_block = block
  end

  def prefix = ROOT/"prefix"
  def bin = prefix/"bin"
  def opt_bin = bin
  def etc = ROOT/"etc"
  def var = ROOT/"var"
  def testpath = (ROOT/"testpath").tap(&:mkpath)
  def std_cargo_args = ["--locked", "--root", prefix.to_s, "--path", "."]
  def free_port = Object.send(:free_port)

  def system(*args)
    args = args.map(&:to_s)
    if args.first == "cargo"
      raise "unexpected cargo call: #{args}" unless args[0, 2] == %w[cargo install] && args.include?(prefix.to_s)

      bin.mkpath
      FileUtils.cp(STROM_BINARY, (bin/"strom").to_s)
      return true
    end
    Kernel.system(*args) || raise("#{args.join(" ")} failed")
  end

  def shell_output(cmd, result = 0)
    out, status = Open3.capture2(cmd)
    raise "#{cmd}: exit #{status.exitstatus}, expected #{result}" unless status.exitstatus == result

    out
  end

  def pipe_output(cmd, input, result = nil)
    out, status = Open3.capture2(cmd, stdin_data: input)
    raise "#{cmd}: exit #{status.exitstatus}, expected #{result}" if result && status.exitstatus != result

    out
  end

  def inreplace(path, from, to)
    text = File.read(path)
    raise "inreplace: #{from.inspect} not found in #{path}" unless text.include?(from)

    File.write(path, text.gsub(from, to))
  end

  def assert_match(expected, actual)
    ok = expected.is_a?(Regexp) ? expected.match?(actual) : actual.include?(expected)
    raise "expected #{actual.inspect} to match #{expected.inspect}" unless ok
  end

  def assert_equal(expected, actual)
    raise "expected #{expected.inspect}, got #{actual.inspect}" unless expected == actual
  end

  def assert_predicate(object, predicate)
    raise "expected #{object} to be #{predicate}" unless object.public_send(predicate)
  end
end

def wait_for_port(port, pid)
  Timeout.timeout(60) do
    loop do
      raise "the service exited early" if Process.waitpid(pid, Process::WNOHANG)

      TCPSocket.new("127.0.0.1", port).close
      break
    rescue Errno::ECONNREFUSED
      sleep 0.2
    end
  end
end

load FORMULA_PATH
formula = Strom.new
stanzas = Strom.stanzas
raise "missing stanzas: #{stanzas.keys}" unless %i[desc homepage url sha256 license head].all? { |k| stanzas.key?(k) }
raise "rust must be a build dependency" unless Strom.dependencies == [{ "rust" => :build }]

# brew install: the formula's install runs in the unpacked source tree.
build = ROOT/"build"
FileUtils.mkdir_p((build/"etc").to_s)
FileUtils.cp_r(File.join(SOURCE_DIR, "etc", "kafka"), (build/"etc").to_s)
Dir.chdir(build) { formula.install }
%w[strom kafka-storage kafka-server-start kafka-server-stop].each do |name|
  raise "#{name} not installed" unless (formula.bin/name).executable?
end
config = formula.etc/"kafka/server.properties"
data = formula.var/"lib/kraft-combined-logs"
raise "log.dirs not rewritten for the prefix" unless config.read.include?("log.dirs=#{data}\n")

formula.post_install
raise "post_install did not format #{data}" unless (data/"meta.properties").file?
raise "post_install did not create var/log/kafka" unless (formula.var/"log/kafka").directory?
identity = (data/"meta.properties").read
formula.post_install
raise "a second post_install reformatted the storage" unless (data/"meta.properties").read == identity

# brew services start: the service command, after the user moves it off Kafka's default ports
# (this machine may run other brokers there).
service = ServiceSpec.new(formula)
service.instance_eval(&Strom.service_block)
raise "keep_alive must be true" unless service.keep == true
raise "stdout and stderr must go to var/log/kafka" unless [service.log, service.error_log].all? { |p| p.start_with?("#{formula.var}/log/kafka/") }

port, controller = free_port, free_port
config.write(config.read.gsub(":9092", ":#{port}").gsub(":9093", ":#{controller}"))
pid = spawn(*service.command, chdir: service.dir, out: [service.log, "a"], err: [service.error_log, "a"])
begin
  wait_for_port(port, pid)
ensure
  formula.system(formula.bin/"kafka-server-stop", config)
  _, status = Process.wait2(pid)
  raise "the service exited with #{status}" unless status.success?
end
log = File.read(service.log)
raise "the service log does not show the broker starting:\n#{log}" unless log.include?("Awaiting socket connections")

# brew test
formula.instance_eval(&Strom.test_block)
puts "brew harness: install, post_install, service and test do passed"
FileUtils.rm_rf(ROOT.to_s)
