# The Gateway update across many gateways (the manual's multi-host phase), as a
# rolling update. Every host runs the steps of "Update the gateway to the planned
# release" (gateway_update.feature); a host that fails runs "Roll back the gateway
# to the previous release" at once. Batches, the failure threshold and whether
# updated hosts roll back too come from the plan's `rolling`; the hosts from the
# inventory's `gateway_fleet` (listed, or an Ansible inventory's group).
@component:gateway-fleet
Feature: Rolling gateway update across the fleet
  The planned release is rolled out batch by batch, the hosts of a batch in
  parallel. Too many failures in a batch stop the roll.

  @id:gateway-fleet-update @rollback:gateway-fleet-rollback
  Scenario: Roll the planned release across the gateway fleet
    Given every gateway of the fleet is serving
    When the fleet is updated batch by batch, each host by the gateway update procedure
    Then every gateway of the fleet was updated

  @rollback-procedure @id:gateway-fleet-rollback
  Scenario: Roll back the gateway fleet as the plan says
    When the updated gateways are rolled back if the plan says so
    Then no gateway of the fleet is left half rolled back
