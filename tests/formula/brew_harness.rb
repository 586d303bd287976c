# Runs Formula/strom.rb's own Ruby without Homebrew, under the DSL model of brew_model.rb:
# `install`, `post_install`, the `service` command (as `brew services` would start it) and
# `test do`, against an already built strom binary, in a temporary prefix. It stands in for
# `brew install`/`brew test` where Homebrew and launchd are not available (Linux CI); the macOS CI
# job runs the real thing. `cargo install` is the one step not run: the binary given on the
# command line is installed instead.
#
# Two users are walked through:
#   fresh   a prefix without Kafka: install, post_install formats storage once, the service
#           starts, logs to var/log/kafka/server.log, and stops cleanly; `test do` passes.
#   adopt   `brew uninstall kafka` left etc/kafka/server.properties (Kafka's, with
#           controller.quorum.bootstrap.servers) and a formatted var/lib/kraft-combined-logs:
#           install keeps both (Strom's file becomes server.properties.default), post_install
#           does not reformat, and the service runs on Kafka's configuration and data dir.
#
#   ruby tests/formula/brew_harness.rb FORMULA STROM_BINARY SOURCE_DIR
require_relative "brew_model"

FORMULA_PATH, STROM_BINARY, SOURCE_DIR = ARGV.first(3).map { |a| File.expand_path(a) }
raise "usage: brew_harness.rb FORMULA STROM_BINARY SOURCE_DIR" unless SOURCE_DIR

BrewModel.strom_binary = STROM_BINARY
load FORMULA_PATH

stanzas = Strom.stanzas
raise "missing stanzas: #{stanzas.keys}" unless %i[desc homepage url sha256 license head].all? { |k| stanzas.key?(k) }
raise "rust must be a build dependency" unless Strom.dependencies == [{ "rust" => :build }]
names, reason = Strom.conflicts&.first
raise "conflicts_with \"kafka\" with a reason is missing" unless names == ["kafka"] && !reason.to_s.empty?

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

# brew install: the formula's install runs in the unpacked source tree; then post_install.
def brew_install(formula)
  build = BrewModel.root/"build"
  FileUtils.mkdir_p((build/"etc").to_s)
  FileUtils.cp_r(File.join(SOURCE_DIR, "etc", "kafka"), (build/"etc").to_s)
  Dir.chdir(build) { formula.install }
  %w[strom kafka-storage kafka-server-start kafka-server-stop kafka-topics kafka-console-producer
     kafka-console-consumer kafka-consumer-groups].each do |name|
    raise "#{name} not installed" unless (formula.bin/name).executable?
  end
  formula.post_install
  raise "post_install did not create var/log/kafka" unless (formula.var/"log/kafka").directory?
end

# brew services start … kafka-server-stop, after moving the config off Kafka's default ports
# (this machine may run other brokers there) and onto 127.0.0.1.
def run_service(formula)
  config = formula.etc/"kafka/server.properties"
  port, controller = free_port, free_port
  config.write(config.read.gsub(":9092", ":#{port}").gsub(":9093", ":#{controller}").gsub("://:", "://127.0.0.1:"))
  service = formula.service
  raise "the plist must keep the service alive after a crash only: #{service.plist["KeepAlive"]}" unless service.plist["KeepAlive"] == { "SuccessfulExit" => false }
  raise "systemd must restart a crashed service: #{service.systemd_restart}" unless service.systemd_restart == "Restart=on-failure"

  pid = spawn(*service.command, chdir: service.working_dir_path, out: [service.log, "a"], err: [service.error_log, "a"])
  begin
    wait_for_port(port, pid)
    yield port if block_given?
  ensure
    formula.system(formula.bin/"kafka-server-stop", config)
    _, status = Process.wait2(pid)
    raise "the service exited with #{status}" unless status.success?
  end
  server_log = (formula.var/"log/kafka/server.log").read
  raise "server.log does not show the broker starting:\n#{server_log}" unless server_log.include?("Awaiting socket connections")
  raise "server.log does not show a clean stop:\n#{server_log}" unless server_log.include?("shut down completed")
  stderr_log = File.read(service.error_log)
  raise "stderr.log should hold only failures, not:\n#{stderr_log}" unless stderr_log.empty?
end

def fresh_prefix
  root = Dir.mktmpdir("strom-brew-harness")
  at_exit { FileUtils.rm_rf(root) } # also when a step fails
  BrewModel.root = Pathname(root)
  Strom.new
end

# --- fresh: a prefix without Kafka -------------------------------------------------------------
formula = fresh_prefix
brew_install(formula)
config = formula.etc/"kafka/server.properties"
data = formula.var/"lib/kraft-combined-logs"
raise "log.dirs not rewritten for the prefix" unless config.read.include?("log.dirs=#{data}\n")
raise "post_install did not format #{data}" unless (data/"meta.properties").file?
identity = (data/"meta.properties").read
formula.post_install
raise "a second post_install reformatted the storage" unless (data/"meta.properties").read == identity
run_service(formula)
formula.instance_eval(&Strom.test_block)
FileUtils.rm_rf(BrewModel.root.to_s)
puts "brew harness: fresh install, post_install, service and test do passed"

# --- adopt: what `brew uninstall kafka` leaves behind ------------------------------------------
formula = fresh_prefix
config = formula.etc/"kafka/server.properties"
data = formula.var/"lib/kraft-combined-logs"
config.dirname.mkpath
# The keys of Kafka 4's shipped config/server.properties, log.dirs as Homebrew's kafka formula
# rewrites it.
kafka_config = <<~EOS
  process.roles=broker,controller
  node.id=1
  controller.quorum.bootstrap.servers=localhost:9093
  listeners=PLAINTEXT://:9092,CONTROLLER://:9093
  inter.broker.listener.name=PLAINTEXT
  advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
  controller.listener.names=CONTROLLER
  listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
  log.dirs=#{data}
  num.partitions=1
  offsets.topic.replication.factor=1
  transaction.state.log.replication.factor=1
  transaction.state.log.min.isr=1
  log.retention.hours=168
EOS
config.write(kafka_config)
(formula.var/"log/kafka").mkpath
(formula.var/"log/kafka/kafka_output.log").write("left by Kafka\n")
# Kafka's quickstart formats with --standalone (a dynamic quorum).
Kernel.system(STROM_BINARY, "storage", "format", "--standalone", "-t", "MkU3OEVBNTcwNTJENDM2Qg", "-c", config.to_s,
              out: File::NULL) || raise("formatting the Kafka-style data dir failed")
kafka_identity = (data/"meta.properties").read

brew_install(formula)
raise "install replaced the adopted server.properties" unless config.read == kafka_config
raise "install did not leave Strom's own file as server.properties.default" unless (config.dirname/"server.properties.default").read.include?("controller.quorum.voters")
raise "post_install reformatted the adopted data dir" unless (data/"meta.properties").read == kafka_identity
run_service(formula) do |port|
  info = formula.shell_output("#{formula.bin}/kafka-storage info -c #{config}")
  raise "the adopted data dir lost its cluster id:\n#{info}" unless info.include?("MkU3OEVBNTcwNTJENDM2Qg")
  TCPSocket.new("127.0.0.1", port).close
end
FileUtils.rm_rf(BrewModel.root.to_s)
puts "brew harness: install over Kafka's leftovers adopted its server.properties and data dir"
