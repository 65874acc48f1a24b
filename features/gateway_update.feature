# The manual's "Gateway アップデート手順": preparation, update, verification,
# and "問題発生時のロールバック". Hosts, paths, ports and the release to
# install come from the inventory and the plan, never from this file.
@component:gateway
Feature: Gateway update
  The OpenResty gateway is replaced by a new release with the live site
  configuration. If any step fails, the rollback below runs at once.

  @id:gateway-update @rollback:gateway-rollback
  Scenario: Update the gateway to the planned release
    # 事前準備 (preparation)
    Given the gateway is serving
    And the current gateway version is recorded
    And the gateway configuration is backed up with a manifest
    # アップデート実行 (update)
    When the new release is staged with the live site configuration
    And the staged configuration passes the config test
    # The manual stops the old gateway, renames the folders and starts the new one.
    # On POSIX the new release takes over with nginx's binary upgrade instead: the
    # folders are the same, and no request is refused (inventory: handover).
    And the new release takes over from the running gateway
    # 動作確認 (verification)
    Then the gateway serves the new version
    And the previous gateway is retired

  @rollback-procedure @id:gateway-rollback
  Scenario: Roll back the gateway to the previous release
    When the previous release takes over from the new one
    Then the gateway serves the version from before the update
    And the gateway configuration is identical to the backup
