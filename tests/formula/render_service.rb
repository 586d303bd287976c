# Prints, as one JSON object, what `brew services` would install for Formula/strom.rb's
# `service do`: the launchd plist (as a dictionary), the systemd restart policy, and the paths
# the formula's prefix has (so the caller can ask `strom service plist` for the same job).
#
#   ruby render_service.rb FORMULA                  through the DSL model (brew_model.rb)
#   ruby render_service.rb FORMULA --homebrew LIB   through Homebrew's own service.rb, LIB being a
#                                                   Homebrew checkout's Library/Homebrew
#
# With --homebrew, the real Library/Homebrew/service.rb renders the plist (with the sorbet-runtime
# and plist gems Homebrew vendors); only the modules service.rb includes for other purposes
# (OnSystem, Utils::Path, Utils::Output, Utils::Service) are stood in for, by the files this
# script writes to a temporary directory.
require_relative "brew_model"

formula_path = ARGV.fetch(0)
homebrew = (i = ARGV.index("--homebrew")) && ARGV.fetch(i + 1)
BrewModel.root = Pathname("/opt/homebrew")

load File.expand_path(formula_path)
formula = Strom.new

if homebrew
  gems = Dir["#{homebrew}/vendor/bundle/ruby/*/gems"].max or raise "no vendored gems under #{homebrew}"
  %w[sorbet-runtime plist].each do |gem|
    dir = Dir["#{gems}/#{gem}-[0-9]*"].max or raise "Homebrew vendors no #{gem} gem under #{gems}"
    $LOAD_PATH.unshift("#{dir}/lib")
  end
  stubs = Pathname(Dir.mktmpdir("homebrew-stubs"))
  (stubs/"utils").mkpath
  (stubs/"on_system.rb").write(<<~RUBY)
    module OnSystem
      module MacOSAndLinux
        def on_system_conditional(macos: nil, linux: nil) = macos || linux
      end
    end
  RUBY
  (stubs/"utils/path.rb").write("module Utils; module Path; end; end\n")
  (stubs/"utils/service.rb").write(<<~RUBY)
    module Utils
      module Service
        def self.systemd_quote(text) = text
      end
    end
  RUBY
  $LOAD_PATH.unshift(homebrew)
  $LOAD_PATH.unshift(stubs.to_s)
  require "forwardable"
  require "standalone/sorbet"
  require "extend/blank"
  module Utils; module Output; module Mixin; end; end; end
  ENV["HOMEBREW_USER_CONFIG_HOME"] = stubs.to_s
  require "service"
  require "plist"
  service = Homebrew::Service.new(formula, &Strom.service_block)
  plist = Plist.parse_xml(service.to_plist)
  restart = service.to_systemd_unit.lines.map(&:chomp).find { |l| l.start_with?("Restart=") }
  renderer = "Homebrew #{homebrew}/service.rb"
  FileUtils.rm_rf(stubs.to_s)
else
  service = formula.service
  plist = service.plist
  restart = service.systemd_restart
  renderer = "model"
end

puts JSON.generate(
  renderer: renderer,
  plist: plist,
  systemd_restart: restart,
  opt_bin: formula.opt_bin.to_s,
  etc: formula.etc.to_s,
  var: formula.var.to_s,
)
