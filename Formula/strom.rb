class Strom < Formula
  desc "Kafka-compatible message broker in one native binary"
  homepage "https://github.com/strom-broker/strom"
  url "https://github.com/strom-broker/strom/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "Apache-2.0"
  head "https://github.com/strom-broker/strom.git", branch: "main"

  depends_on "rust" => :build

  conflicts_with "kafka", because: "both install `kafka-*` commands and `etc/kafka/server.properties`"

  def install
    inreplace "etc/kafka/server.properties",
              "log.dirs=/opt/homebrew/var/lib/kraft-combined-logs",
              "log.dirs=#{var}/lib/kraft-combined-logs"
    system "cargo", "install", *std_cargo_args
    # Kafka's command names, so the quickstart runs as written (argv[0] picks the tool).
    %w[
      kafka-storage kafka-server-start kafka-server-stop kafka-topics
      kafka-console-producer kafka-console-consumer kafka-consumer-groups
    ].each do |name|
      bin.install_symlink "strom" => name
    end
    # Kept as it is when the user has edited it, or when `brew uninstall kafka` left Kafka's
    # (Homebrew then installs this one as server.properties.default).
    etc.install "etc/kafka"
  end

  def post_install
    # launchd opens the service's log file but does not create its directory.
    (var/"log/kafka").mkpath
    # Format the log.dirs the installed configuration names, unless one of them already holds
    # storage: a data dir left by `brew uninstall kafka` is served as it is, and `strom server`
    # completes a partly formatted set with the cluster id it holds.
    config = etc/"kafka/server.properties"
    dirs = config.read[/^[ \t]*log\.dirs?[ \t]*[=:][ \t]*(.+)$/, 1].to_s.split(",").map(&:strip)
    return if dirs.any? { |dir| File.exist?("#{dir}/meta.properties") }

    cluster_id = Utils.safe_popen_read(bin/"kafka-storage", "random-uuid").chomp
    system bin/"kafka-storage", "format", "--ignore-formatted", "-t", cluster_id, "-c", config
  end

  service do
    run [opt_bin/"strom", "server", "--config", etc/"kafka/server.properties", "--log-dir", var/"log/kafka"]
    # Restart after a crash, not after `kafka-server-stop`/`strom stop` (a clean exit 0).
    keep_alive successful_exit: false, crashed: true
    # Room for a clean shutdown (flush, checkpoints) before launchd sends SIGKILL.
    stop_timeout 60
    # A start that fails at once (a bad config edit) is retried every 30 s, not every 10 s.
    throttle_interval 30
    process_type :interactive
    working_dir etc/"kafka"
    # The broker writes var/log/kafka/server.log itself (rolled); stderr.log only collects the
    # reason a start failed.
    log_path var/"log/kafka/stderr.log"
    error_log_path var/"log/kafka/stderr.log"
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/strom --version")

    port = free_port
    controller_port = free_port
    (testpath/"server.properties").write <<~EOS
      process.roles=broker,controller
      node.id=1
      controller.quorum.voters=1@127.0.0.1:#{controller_port}
      listeners=PLAINTEXT://127.0.0.1:#{port},CONTROLLER://127.0.0.1:#{controller_port}
      controller.listener.names=CONTROLLER
      offsets.topic.replication.factor=1
      log.dirs=#{testpath}/data
    EOS
    cluster_id = shell_output("#{bin}/kafka-storage random-uuid").chomp
    assert_match "Formatting metadata directory #{testpath}/data",
                 shell_output("#{bin}/kafka-storage format -t #{cluster_id} -c #{testpath}/server.properties")

    pid = spawn bin/"strom", "server", "--config", testpath/"server.properties", "--log-dir", testpath/"logs"
    begin
      Timeout.timeout(30) do
        TCPSocket.new("127.0.0.1", port).close
      rescue Errno::ECONNREFUSED
        sleep 0.2
        retry
      end
      bootstrap = "--bootstrap-server=127.0.0.1:#{port}"
      assert_match "Created topic brew-test.",
                   shell_output("#{bin}/kafka-topics #{bootstrap} --create --topic brew-test --partitions 1")
      pipe_output("#{bin}/kafka-console-producer #{bootstrap} --topic brew-test", "hello from brew test\n", 0)
      assert_equal "hello from brew test",
                   shell_output("#{bin}/kafka-console-consumer #{bootstrap} --topic brew-test --from-beginning " \
                                "--max-messages 1 --group brew-test").chomp
      assert_match(/brew-test\s+brew-test\s+0\s+1\s+1\s+0/,
                   shell_output("#{bin}/kafka-consumer-groups #{bootstrap} --describe --group brew-test"))
    ensure
      # A signal, not a tool that could itself fail here and hide the real failure.
      Process.kill("TERM", pid)
      Process.wait(pid)
    end
    assert_match "shut down completed", (testpath/"logs/server.log").read
  end
end
