# The manual's "Nebula アップデート": stop the service, replace nebula and
# nebula-cert, start it, and prove the overlay (ping the lighthouse, read the
# log). Here the new binary tests the config before anything stops, the
# overlay is proven by ICMP, TCP and a completed handshake since the start, and
# a new error line in the log is the decision table's log_errors row.
@component:nebula
Feature: Nebula update
  The Nebula node's binaries are replaced while its service is stopped.
  If any step fails, the rollback below runs at once.

  @id:nebula-update @rollback:nebula-rollback
  Scenario: Update Nebula
    # 事前準備 (preparation)
    Given the Nebula service runs and the overlay works
    And the host certificate is valid for long enough
    And the current Nebula version is recorded
    And the binaries, config and certificates are backed up with checksums
    # アップデート (update)
    When the new release passes the config test
    And the Nebula service is stopped
    And both binaries are replaced atomically
    And the Nebula service is started
    # 動作確認 (verification)
    Then the lighthouse answers ping and TCP through the overlay after a completed handshake
    And the Nebula log has no new error lines since the start
    And Nebula reports the new version

  Scenario: Check the host certificate
    Then the host certificate is valid for long enough

  @rollback-procedure @id:nebula-rollback
  Scenario: Roll back Nebula
    When the Nebula service is stopped for the rollback
    And the binaries, config and certificates are restored from the recorded backup
    And the Nebula service is started again
    Then the overlay works again
