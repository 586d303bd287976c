class Strom < Formula
  desc "Kafka-compatible message broker in one native binary"
  homepage "https://github.com/strom-broker/strom"
  url "https://github.com/strom-broker/strom/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "Apache-2.0"
  head "https://github.com/strom-broker/strom.git", branch: "main"

  depends_on "rust" => :build

  def install
    inreplace "etc/kafka/server.properties",
              "log.dirs=/opt/homebrew/var/lib/kraft-combined-logs",
              "log.dirs=#{var}/lib/kraft-combined-logs"
    system "cargo", "install", *std_cargo_args
    %w[kafka-storage kafka-server-start kafka-server-stop].each do |name|
      bin.install_symlink "strom" => name
    end
    etc.install "etc/kafka"
  end

  def post_install
    # launchd opens the log file but does not create its directory.
    (var/"log/kafka").mkpath
    return if (var/"lib/kraft-combined-logs/meta.properties").exist?

    # Creates var/lib/kraft-combined-logs; `strom server` would also format it on first start.
    cluster_id = Utils.safe_popen_read(bin/"kafka-storage", "random-uuid").chomp
    system bin/"kafka-storage", "format", "--ignore-formatted",
           "-t", cluster_id, "-c", etc/"kafka/server.properties"
  end

  service do
    run [opt_bin/"strom", "server", "--config", etc/"kafka/server.properties"]
    keep_alive true
    working_dir var
    log_path var/"log/kafka/strom.log"
    error_log_path var/"log/kafka/strom.log"
  end

  test do
    port = free_port
    controller_port = free_port
    (testpath/"server.properties").write <<~EOS
      process.roles=broker,controller
      node.id=1
      controller.quorum.voters=1@127.0.0.1:#{controller_port}
      listeners=PLAINTEXT://127.0.0.1:#{port},CONTROLLER://127.0.0.1:#{controller_port}
      controller.listener.names=CONTROLLER
      log.dirs=#{testpath}/data
    EOS
    cluster_id = shell_output("#{bin}/kafka-storage random-uuid").chomp
    assert_match "Formatting metadata directory #{testpath}/data",
                 shell_output("#{bin}/kafka-storage format -t #{cluster_id} -c #{testpath}/server.properties")

    pid = spawn "#{bin}/strom", "server", "--config", "#{testpath}/server.properties"
    begin
      Timeout.timeout(30) do
        TCPSocket.new("127.0.0.1", port).close
      rescue Errno::ECONNREFUSED
        sleep 0.2
        retry
      end
      bootstrap = "--bootstrap-server=127.0.0.1:#{port}"
      system bin/"strom", "topics", "--create", "--topic", "brew-test", "--partitions", "1", bootstrap
      pipe_output("#{bin}/strom produce --topic brew-test #{bootstrap}", "hello from brew test\n", 0)
      assert_equal "hello from brew test",
                   shell_output("#{bin}/strom consume --topic brew-test --from-beginning " \
                                "--max-messages 1 #{bootstrap}").chomp
    ensure
      system bin/"kafka-server-stop", testpath/"server.properties"
      Process.wait(pid)
    end
  end
end
