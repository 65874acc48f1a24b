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
    And the old gateway is stopped
    And the new release is swapped into place
    And the gateway is started
    # 動作確認 (verification)
    Then the gateway serves the new version

  @rollback-procedure @id:gateway-rollback
  Scenario: Roll back the gateway to the previous release
    When the new gateway is stopped
    And the previous release is moved back into place
    And the previous gateway is started
    Then the gateway serves the version from before the update
    And the gateway configuration is identical to the backup
