#!/usr/bin/env bash
# Validates infra/ with the real Bicep compiler when one can be had, and always with the offline structural checks.
#
#   1. infra/tools/static-check.mjs (node only; no node_modules, no dist, no network).
#   2. Finds a Bicep CLI: $BICEP, `bicep` on PATH, the one `az bicep install` puts in ~/.azure/bin, a cached copy,
#      or restores the NuGet package Azure.Bicep.CommandLine.<rid> into a cache outside the repo
#      (${BICEP_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/exo-smtp-mailer/bicep}).
#   3. Builds a local Microsoft Graph extension from the type files vendored in the repository
#      (${MSGRAPH_TYPES_DIR:-infra/tools/msgraph-types/v1.0/1.0.0}) with `bicep publish-extension`,
#      copies infra/ to a temp dir and writes a compile-only bicepconfig.json there that points microsoftGraphV1 at
#      that .tgz. The committed infra/bicepconfig.json keeps the public registry reference.
#   4. `bicep build` and `bicep lint` on every .bicep file. Any error OR warning fails the run. The ARM template of
#      infra/main.bicep goes to .local/arm/main.json (git-ignored) with the fingerprint of its sources
#      (infra/tools/compiled-arm.mjs), for test/infra-settings.test.ts.
#   5. The KQL of the alert rules and the workbook (compiled modules/alerts.bicep) through Microsoft's Kusto.Language
#      parser (npm @kusto/language-service-next, into a cache outside the repo; SKIPPED when npm cannot fetch it).
#
#   --arm-only: steps 2 and 3, then compile infra/main.bicep to .local/arm/main.json and stop. No compiler = exit 1.
#      The infra test runs this when .local/arm/main.json is missing or older than infra/.
#
# Exit codes: 0 = all checks passed, or the compiler was unavailable (a SKIPPED line says why, the static checks
# still ran and passed); 1 = a problem was found. Set BICEP_REQUIRED=1, or TEST_REQUIRE_ALL=1 (every check of the
# test suite required, as .ci/run sets it), to turn "no compiler" into a failure.
set -euo pipefail

start=$(date +%s)
root=$(cd "$(dirname "$0")/.." && pwd)
infra=$root/infra
status=0
arm_only=0
case "${1:-}" in
  --arm-only) arm_only=1 ;;
  "") ;;
  *) echo "usage: bash scripts/validate-infra.sh [--arm-only]" >&2; exit 2 ;;
esac
elapsed() { echo "$(($(date +%s) - start))s"; }
finish() { echo "validate-infra: $1 in $(elapsed)"; exit "$2"; }
# A signal still runs the EXIT trap that removes the temp dir.
trap 'exit 143' TERM
trap 'exit 130' INT

# ---- 1. structural checks ----------------------------------------------------------------------------------------
if [ "$arm_only" = 1 ]; then
  : # compile only
elif command -v node >/dev/null 2>&1; then
  node "$infra/tools/static-check.mjs" || status=1
else
  echo "validate-infra: static checks SKIPPED: node is not installed"
fi

# ---- 1b. PowerShell syntax ---------------------------------------------------------------------------------------
# The real parser when pwsh is installed; otherwise the tree-sitter PowerShell grammar (WebAssembly, from the npm
# registry into a cache outside the repo); otherwise SKIPPED.
ps_files=$(if [ "$arm_only" = 0 ]; then find "$infra" -name '*.ps1' | sort; fi)
ps_cache=${PS_CHECK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/exo-smtp-mailer/ps-syntax}
if [ -n "$ps_files" ]; then
  if command -v pwsh >/dev/null 2>&1; then
    for f in $ps_files; do
      if pwsh -NoProfile -NonInteractive -Command '$e = $null; [void][System.Management.Automation.Language.Parser]::ParseFile($args[0], [ref]$null, [ref]$e); if ($e) { $e | ForEach-Object { "      line $($_.Extent.StartLineNumber): $($_.Message)" }; exit 1 }' "$f"; then
        echo "ok    ${f#"$root"/} (PowerShell parser)"
      else
        echo "FAIL  ${f#"$root"/} (PowerShell parser)"; status=1
      fi
    done
  else
    if [ ! -f "$ps_cache/tree-sitter-powershell.wasm" ] || [ ! -d "$ps_cache/node_modules/web-tree-sitter" ]; then
      if command -v npm >/dev/null 2>&1; then
        mkdir -p "$ps_cache"
        ( cd "$ps_cache" && [ -f package.json ] || echo '{"private":true}' > package.json
          timeout 180 npm install --silent --no-audit --no-fund --no-save web-tree-sitter@0.25 >/dev/null 2>&1 \
          && timeout 120 npm pack tree-sitter-powershell@0.26.4 --silent >/dev/null 2>&1 \
          && tar xzf tree-sitter-powershell-0.26.4.tgz package/tree-sitter-powershell.wasm \
          && mv package/tree-sitter-powershell.wasm . && rm -rf package tree-sitter-powershell-0.26.4.tgz ) || true
      fi
    fi
    if [ -f "$ps_cache/tree-sitter-powershell.wasm" ] && [ -d "$ps_cache/node_modules/web-tree-sitter" ]; then
      # shellcheck disable=SC2086
      node "$infra/tools/ps-syntax-check.mjs" "$ps_cache" $ps_files | sed "s#$root/##" || status=1
    else
      echo "validate-infra: PowerShell syntax check SKIPPED: no pwsh, and the tree-sitter PowerShell grammar could not be installed from npm"
    fi
  fi
fi

# ---- 2. compiler -------------------------------------------------------------------------------------------------
bicep_version=${BICEP_VERSION:-0.49.2}
cache=${BICEP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/exo-smtp-mailer/bicep}
reasons=()

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) rid=linux-x64 ;;
  Linux-aarch64) rid=linux-arm64 ;;
  Darwin-x86_64) rid=osx-x64 ;;
  Darwin-arm64) rid=osx-arm64 ;;
  *) rid="" ;;
esac

works() { [ -n "$1" ] && [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

find_bicep() {
  local candidate
  for candidate in "${BICEP:-}" "$(command -v bicep 2>/dev/null || true)" "$HOME/.azure/bin/bicep" "$root/.local/bicep/bicep"; do
    if works "$candidate"; then echo "$candidate"; return 0; fi
  done
  candidate=$(find "$cache" -type f -name bicep 2>/dev/null | head -n 1 || true)
  if works "$candidate"; then echo "$candidate"; return 0; fi
  return 1
}

restore_bicep() {
  [ -n "$rid" ] || { reasons+=("no Bicep NuGet package for $(uname -s)-$(uname -m)"); return 1; }
  command -v dotnet >/dev/null 2>&1 || { reasons+=("dotnet is not installed, so the NuGet package Azure.Bicep.CommandLine.$rid cannot be restored"); return 1; }
  local project=$cache/restore log
  mkdir -p "$project"
  log=$project/restore.log
  # A throwaway project outside the repo; PackageDownload fetches the package without referencing it.
  cat > "$project/restore.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net$(dotnet --version | cut -d. -f1-2)</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Azure.Bicep.CommandLine.$rid" Version="[$bicep_version]" />
  </ItemGroup>
</Project>
XML
  echo "validate-infra: restoring Azure.Bicep.CommandLine.$rid $bicep_version from NuGet into $cache/packages"
  if ! timeout 300 dotnet restore "$project/restore.csproj" --packages "$cache/packages" >"$log" 2>&1; then
    reasons+=("NuGet restore of Azure.Bicep.CommandLine.$rid $bicep_version failed: $(grep -m1 -o 'error NU[0-9]*:.*' "$log" || tail -n 1 "$log")")
    return 1
  fi
  local binary
  binary=$(find "$cache/packages" -type f -name bicep | head -n 1)
  [ -n "$binary" ] || { reasons+=("the restored package contains no 'bicep' binary"); return 1; }
  chmod +x "$binary"
  works "$binary" || { reasons+=("the restored 'bicep' binary does not run on this machine"); return 1; }
}

bicep=$(find_bicep || true)
if [ -z "$bicep" ] && [ "${BICEP_SKIP_RESTORE:-0}" != 1 ]; then
  restore_bicep && bicep=$(find_bicep || true)
fi
if [ -z "$bicep" ]; then
  reasons+=("no bicep on PATH, in ~/.azure/bin, in .local/bicep or in $cache")
  message=$(printf '%s; ' "${reasons[@]}")
  if [ "${BICEP_REQUIRED:-0}" = 1 ] || [ "${TEST_REQUIRE_ALL:-0}" = 1 ] || [ "$arm_only" = 1 ]; then
    echo "validate-infra: FAILED: Bicep compiler required but unavailable: ${message%; }"
    finish "failed" 1
  fi
  echo "validate-infra: bicep build/lint SKIPPED: ${message%; }"
  echo "validate-infra: to compile, install the Bicep CLI (az bicep install, or https://aka.ms/bicep-install) and rerun"
  if [ "$status" -ne 0 ]; then finish "static checks FAILED (compiler skipped)" 1; fi
  finish "static checks passed, compiler skipped" 0
fi
echo "validate-infra: using $bicep ($("$bicep" --version 2>&1 | head -n 1))"

# ---- 3. compile-only copy with a local Graph extension -----------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$infra" "$work/infra"
# Of the copy, before its bicepconfig.json is rewritten: what .local/arm/main.json is compiled from.
sources=$(node "$infra/tools/compiled-arm.mjs" fingerprint "$work/infra")
types=${MSGRAPH_TYPES_DIR:-$infra/tools/msgraph-types/v1.0/1.0.0}
[ -f "$types/index.json" ] || { echo "validate-infra: no Graph type files at $types (index.json)"; finish "failed" 1; }
{
  "$bicep" publish-extension "$types/index.json" --target "$work/msgraph.tgz" --force >"$work/publish.log" 2>&1 \
    || { cat "$work/publish.log"; echo "validate-infra: building the local Graph extension failed"; finish "failed" 1; }
  node -e '
    const fs = require("fs");
    const [config, target] = process.argv.slice(1);
    const json = JSON.parse(fs.readFileSync(config, "utf8"));
    json.extensions = { ...json.extensions, microsoftGraphV1: target };
    fs.writeFileSync(config, JSON.stringify(json, null, 2));
  ' "$work/infra/bicepconfig.json" "$work/msgraph.tgz"
  echo "validate-infra: Graph extension built locally from ${types#"$root"/} (compile-only bicepconfig in $work/infra)"
}

# The compiled main template for test/infra-settings.test.ts; the template first, its fingerprint last, each replaced
# in one rename, so a reader never pairs a new fingerprint with an old template.
save_arm() {
  local dir=$root/.local/arm
  mkdir -p "$dir"
  cp "$work/json/main.json" "$dir/main.json.$$" && mv -f "$dir/main.json.$$" "$dir/main.json"
  echo "$sources" > "$dir/main.sources.sha256.$$" && mv -f "$dir/main.sources.sha256.$$" "$dir/main.sources.sha256"
}

if [ "$arm_only" = 1 ]; then
  if "$bicep" build "$work/infra/main.bicep" --outdir "$work/json" >"$work/out.log" 2>&1 && [ -f "$work/json/main.json" ]; then
    save_arm
    finish "compiled infra/main.bicep to .local/arm/main.json" 0
  fi
  sed "s#$work/##g" "$work/out.log"
  finish "FAILED: infra/main.bicep does not compile" 1
fi

# ---- 4. build + lint -------------------------------------------------------------------------------------------
files=$(cd "$work/infra" && find . -name '*.bicep' | sort)
for file in $files; do
  file=${file#./}
  rel=infra/$file
  out=$work/out.log
  build_rc=0; lint_rc=0
  "$bicep" build "$work/infra/$file" --outdir "$work/json" >"$out" 2>&1 || build_rc=$?
  "$bicep" lint "$work/infra/$file" >>"$out" 2>&1 || lint_rc=$?
  # Diagnostics look like: <path>(line,col) : Warning|Error <code>: <message>
  sed -i "s#$work/##g" "$out"
  diagnostics=$(grep -E '\) : (Error|Warning|Info) ' "$out" | sort -u || true)
  if [ "$build_rc" -ne 0 ] || [ "$lint_rc" -ne 0 ] || grep -qE '\) : (Error|Warning) ' <<<"$diagnostics"; then
    echo "FAIL  $rel (build exit $build_rc, lint exit $lint_rc)"
    if [ -n "$diagnostics" ]; then sed 's/^/      /' <<<"$diagnostics"; else sed 's/^/      /' "$out"; fi
    status=1
  else
    echo "ok    $rel"
    if [ -n "$diagnostics" ]; then sed 's/^/      /' <<<"$diagnostics"; fi
  fi
done

if [ -f "$work/json/main.json" ]; then save_arm; fi

# ---- 5. KQL of the alert rules and the workbook ------------------------------------------------------------------
kql_cache=${KQL_CHECK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/exo-smtp-mailer/kql}
kusto=$kql_cache/node_modules/@kusto/language-service-next
if [ -f "$work/json/alerts.json" ]; then
  if [ ! -f "$kusto/Kusto.Language.Bridge.js" ] && command -v npm >/dev/null 2>&1; then
    mkdir -p "$kql_cache"
    ( cd "$kql_cache" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
      && timeout 180 npm install --silent --no-audit --no-fund --no-save @kusto/language-service-next@12.4.1 >/dev/null 2>&1 ) || true
  fi
  if [ -f "$kusto/Kusto.Language.Bridge.js" ]; then
    node "$infra/tools/kql-check.mjs" "$kusto" "$work/json/alerts.json" || status=1
  else
    echo "validate-infra: KQL check SKIPPED: @kusto/language-service-next could not be installed from npm into $kql_cache"
  fi
fi

if [ "$status" -ne 0 ]; then finish "FAILED" 1; fi
finish "all checks passed" 0
