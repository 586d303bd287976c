# A model of the slice of Homebrew's formula DSL that Formula/strom.rb uses, with Homebrew's
# semantics (`system` raises on failure, `shell_output` checks the exit status, `etc.install`
# keeps a user's edited file and writes the new one as `*.default`, `service do` renders the
# launchd plist and systemd unit the way Homebrew's Library/Homebrew/service.rb does). It lets
# the formula's own Ruby run where Homebrew cannot: tests/formula/brew_harness.rb (install,
# post_install, the service, `test do`) and tests/formula/render_service.rb (the plist).
#
# The model's rendering is checked against Homebrew's real service.rb whenever a Homebrew
# library is at hand (tests/formula/render_service.rb --homebrew DIR, run by
# tests/formula_harness.rs when STROM_HOMEBREW_LIBRARY is set or `brew` is installed).
require "fileutils"
require "json"
require "open3"
require "pathname"
require "socket"
require "tmpdir"
require "timeout"

# The prefix the modelled Homebrew installs into; set by the caller before loading a formula.
module BrewModel
  class << self
    attr_accessor :root, :strom_binary
  end
end

def free_port
  server = TCPServer.new("127.0.0.1", 0)
  server.addr[1]
ensure
  server&.close
end

# Homebrew's Utils helpers the formula calls.
module Utils
  def self.safe_popen_read(*args)
    out, status = Open3.capture2(*args.map(&:to_s))
    raise "#{args.join(" ")} failed with #{status}" unless status.success?

    out
  end

  def self.popen_read(*args)
    out, = Open3.capture2(*args.map(&:to_s))
    out
  end
end

# The Pathname extensions formulae use.
class Pathname
  # Homebrew's extend/pathname.rb makes paths usable wherever Ruby wants a String (`spawn`).
  alias to_str to_s

  def install_symlink(mapping)
    mkpath
    mapping.each { |target, name| File.symlink(target.to_s, (self/name).to_s) }
  end

  # Homebrew's `install`; under `etc` a file that exists with other content is kept and the new
  # one written beside it as `NAME.default` (Homebrew's InstallRenamed), which is how a user's
  # edited server.properties, or one left by `brew uninstall kafka`, survives an install.
  def install(*paths)
    mkpath
    paths.each do |p|
      source = Pathname(p.to_s)
      target = self/source.basename
      if source.directory?
        target.install(*source.children)
      elsif target.file? && !FileUtils.identical?(source.to_s, target.to_s)
        FileUtils.cp(source.to_s, "#{target}.default")
      else
        FileUtils.cp(source.to_s, target.to_s)
      end
    end
  end
end

# What `service do` records, with Homebrew::Service's rendering.
class ServiceSpec
  KEEP_ALIVE_KEYS = [:always, :successful_exit, :crashed, :path].freeze

  attr_reader :command

  def initialize(formula, &block)
    @formula = formula
    @keep_alive = {}
    @environment_variables = {}
    @run_at_load = true
    instance_eval(&block)
  end

  def method_missing(name, ...) = @formula.respond_to?(name) ? @formula.public_send(name, ...) : super
  def respond_to_missing?(name, include_private = false) = @formula.respond_to?(name) || super

  def run(command) = @command = command.map(&:to_s)
  def working_dir(dir) = @working_dir = dir.to_s
  def log_path(path) = @log_path = path.to_s
  def error_log_path(path) = @error_log_path = path.to_s
  def environment_variables(vars) = @environment_variables = vars.transform_values(&:to_s)
  def run_at_load(value) = @run_at_load = value

  def keep_alive(value)
    @keep_alive = case value
    when true, false then { always: value }
    when Hash
      raise TypeError, "Service#keep_alive only allows: #{KEEP_ALIVE_KEYS}" unless (value.keys - KEEP_ALIVE_KEYS).empty?

      value
    end
  end

  def stop_timeout(value)
    raise TypeError, "Service#stop_timeout must be a non-negative integer" if value.negative?

    @stop_timeout = value
  end

  def throttle_interval(value) = @throttle_interval = value

  def process_type(value)
    raise TypeError, "Service#process_type: #{value}" unless %i[background standard interactive adaptive].include?(value)

    @process_type = value
  end

  def working_dir_path = @working_dir
  def log = @log_path
  def error_log = @error_log_path

  # The launchd plist as a Hash, key for key as Homebrew::Service#to_plist builds it.
  def plist
    base = { "Label" => "homebrew.mxcl.#{@formula.name}", "ProgramArguments" => @command, "RunAtLoad" => @run_at_load == true }
    base["ExitTimeOut"] = @stop_timeout if @stop_timeout
    base["ThrottleInterval"] = @throttle_interval if @throttle_interval
    base["ProcessType"] = @process_type.to_s.capitalize if @process_type
    base["WorkingDirectory"] = File.expand_path(@working_dir) if @working_dir
    base["StandardOutPath"] = File.expand_path(@log_path) if @log_path
    base["StandardErrorPath"] = File.expand_path(@error_log_path) if @error_log_path
    base["EnvironmentVariables"] = @environment_variables.transform_keys(&:to_s) unless @environment_variables.empty?
    if !@keep_alive.empty? && @keep_alive[:always] != false
      if @keep_alive[:always]
        base["KeepAlive"] = true
      elsif @keep_alive.key?(:successful_exit)
        base["KeepAlive"] = { "SuccessfulExit" => @keep_alive[:successful_exit] }
      elsif @keep_alive.key?(:crashed)
        base["KeepAlive"] = { "Crashed" => @keep_alive[:crashed] }
      end
    end
    base["LimitLoadToSessionType"] = %w[Aqua Background LoginWindow StandardIO System]
    base
  end

  # The systemd unit's [Service] restart policy, as Homebrew::Service#to_systemd_unit decides it.
  def systemd_restart
    if @keep_alive[:always] || @keep_alive[:crashed]
      "Restart=on-failure"
    elsif @keep_alive[:successful_exit]
      "Restart=on-success"
    end
  end
end

# The slice of Homebrew's Formula class the formula uses.
class Formula
  class << self
    attr_reader :service_block, :test_block, :dependencies, :stanzas, :conflicts

    %i[desc homepage url sha256 license].each do |name|
      define_method(name) { |value| (@stanzas ||= {})[name] = value }
    end

    def head(url, branch:) = (@stanzas ||= {})[:head] = [url, branch]
    def depends_on(spec) = (@dependencies ||= []) << spec
    def conflicts_with(*names, because:) = (@conflicts ||= []) << [names, because]
    def service(&block) = @service_block = block
    def test(&block) = @test_block = block
  end

  def name = self.class.name.downcase
  def version = self.class.stanzas[:url][/v?(\d+(?:\.\d+)+)\.tar/, 1]
  def prefix = BrewModel.root/"prefix"
  def bin = prefix/"bin"
  def opt_bin = bin
  def etc = BrewModel.root/"etc"
  def var = BrewModel.root/"var"
  def testpath = (BrewModel.root/"testpath").tap(&:mkpath)
  def std_cargo_args = ["--locked", "--root", prefix.to_s, "--path", "."]
  def free_port = Object.send(:free_port)
  def service = ServiceSpec.new(self, &self.class.service_block)

  def system(*args)
    args = args.map(&:to_s)
    if args.first == "cargo"
      raise "unexpected cargo call: #{args}" unless args[0, 2] == %w[cargo install] && args.include?(prefix.to_s)

      bin.mkpath
      FileUtils.cp(BrewModel.strom_binary, (bin/"strom").to_s)
      return true
    end
    Kernel.system(*args) || raise("#{args.join(" ")} failed")
  end

  def quiet_system(*args) = Kernel.system(*args.map(&:to_s), out: File::NULL, err: File::NULL)

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
